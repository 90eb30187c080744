"""Each user sees times in their own zone (their profile's, whatever the browser's): a colleague in
Tokyo and one in Berlin read the same ticket's due time as different clock times, each named."""

from datetime import datetime
from zoneinfo import ZoneInfo

from journeys import V1, make_department, make_user


def clock(instant: datetime, zone: str) -> str:
    """The hour and minute as the page writes them in English (12-hour clock, two digits)."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%I:%M")


def test_a_user_in_tokyo_and_one_in_berlin_see_the_same_due_time_in_their_own_zone(web, system):
    department = make_department(system, "Service")
    tokyo = make_user(system, "agent", department, timezone="Asia/Tokyo")
    berlin = make_user(system, "agent", department, timezone="Europe/Berlin")
    api = system.client(system.token(tokyo["email"], tokyo["password"]))
    contact = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Kenji", "last_name": "Sato"}).json()
    body = {"contact_id": contact["id"], "subject": "Router offline", "priority": "urgent", "assignee_id": tokyo["id"]}
    ticket = api.post(system.url(f"{V1}/tickets"), json=body).json()
    due = datetime.fromisoformat(ticket["sla_due_at"])
    page, expect = web.page, web.expect  # the browser itself runs in Berlin time

    shown = {}
    for user, zone, name in ((tokyo, "Asia/Tokyo", "GMT+9"), (berlin, "Europe/Berlin", "GMT+")):
        web.sign_in(user["email"], user["password"], then=f"/tickets/{ticket['id']}")
        due_time = page.locator("dd.due time")
        expect(due_time).to_contain_text(clock(due, zone))
        expect(due_time).to_contain_text(name)
        shown[zone] = due_time.text_content()
        assert datetime.fromisoformat(due_time.get_attribute("datetime")) == due  # the same instant
        web.check(f"ticket-due-{zone.split('/')[1].lower()}")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("E-mail")).to_be_visible()
    assert shown["Asia/Tokyo"] != shown["Europe/Berlin"]
