"""An agent at the desk: an incoming call pops the caller's card, the call is logged, a ticket opened."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from journeys import V1, make_user


def test_an_incoming_call_pops_the_callers_card_and_becomes_a_logged_call_and_a_ticket(web, system):
    agent = make_user(system, "agent")
    phone = f"+49301{uuid.uuid4().int % 10**7:07d}"
    admin = system.client()
    contact = admin.post(
        system.url(f"{V1}/contacts"),
        json={"first_name": "Grace", "last_name": "Hopper", "phones": [phone], "owner_id": agent["id"]},
    ).json()
    page, expect = web.page, web.expect

    web.sign_in(agent["email"], agent["password"], then="/desk")
    web.check("desk")
    page.goto(f"/desk?phone={phone}")  # as a phone system opens it: the + arrives as a space

    expect(page).to_have_url(re.compile(f"/contacts/{contact['id']}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    expect(page.get_by_label("What is it about?")).to_be_focused()
    web.check("contact-card")
    page.get_by_label("What is it about?").fill("Engine delivered broken")
    page.get_by_label("Topic", exact=True).fill("replacement")
    page.get_by_label("Detail", exact=True).fill("before Friday")
    page.get_by_role("button", name="Log it (time: now)").click()
    expect(page.get_by_text("Logged.")).to_be_visible()
    expect(page.locator("ol.timeline")).to_contain_text("Engine delivered broken")

    page.get_by_role("button", name="Open a ticket from this call").click()
    expect(page.get_by_label("Description")).to_have_value(re.compile("replacement: before Friday"))
    page.get_by_role("button", name="Open the ticket").click()

    expect(page).to_have_url(re.compile("/tickets/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Engine delivered broken")
    expect(page.locator(".countdown")).to_contain_text("left")
    web.check("ticket")
    calls = admin.get(system.url(f"{V1}/interactions"), params={"contact_id": contact["id"]}).json()["items"]
    assert [(call["subject"], call["user_id"]) for call in calls] == [("Engine delivered broken", agent["id"])]
    ticket_id = page.url.rsplit("/", 1)[1]
    ticket = admin.get(system.url(f"{V1}/tickets/{ticket_id}")).json()
    assert (ticket["interaction_id"], ticket["assignee_id"]) == (calls[0]["id"], agent["id"])


def test_the_desk_lists_my_tickets_by_sla_and_my_late_tasks(web, system):
    agent = make_user(system, "agent")
    as_agent = system.client(system.token(agent["email"], agent["password"]))
    contact = as_agent.post(system.url(f"{V1}/contacts"), json={"first_name": "Alan", "last_name": "Turing"}).json()
    for subject, priority in (("Slow answer", "low"), ("Line down", "urgent")):
        ticket = {"contact_id": contact["id"], "subject": subject, "priority": priority, "assignee_id": agent["id"]}
        assert as_agent.post(system.url(f"{V1}/tickets"), json=ticket).status_code == 201
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then=f"/contacts/{contact['id']}")

    page.get_by_text("New task").click()
    form = page.get_by_role("form", name="New task")
    form.get_by_label("Title").fill("Call back about the line")
    an_hour_ago = datetime.now(ZoneInfo("Europe/Berlin")) - timedelta(hours=1)  # the browser's zone
    form.get_by_label("Due").fill(an_hour_ago.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_role("button", name="Create the task").click()
    expect(page.get_by_text('Task "Call back about the line" created.')).to_be_visible()

    page.get_by_role("link", name="Desk", exact=True).click()
    tickets = page.get_by_role("table", name="My open tickets, by SLA")
    expect(tickets.locator("tbody tr")).to_have_count(2)
    expect(tickets.locator("tbody tr").first).to_contain_text("Line down")  # urgent: due first
    tasks = page.get_by_role("table", name="My tasks due today and overdue")
    expect(tasks).to_contain_text("Call back about the line")
    expect(tasks).to_contain_text("overdue")
    web.check("desk-with-work")
