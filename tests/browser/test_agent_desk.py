"""An agent at the desk: an incoming call pops the caller's card, the call is logged, a ticket opened."""

import re
import uuid

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
    assert admin.get(system.url(f"{V1}/tickets/{ticket_id}")).json()["interaction_id"] == calls[0]["id"]
