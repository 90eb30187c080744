"""A manager approves an agent's document, wins a deal on the board, and sees the KPIs move."""

import re

from journeys import V1, eventually, make_department, make_user


def test_a_manager_approves_a_document_and_sees_the_won_deal_in_the_kpis(web, system):
    team = make_department(system, "Sales")
    manager, agent = make_user(system, "manager", team), make_user(system, "agent", team)
    as_agent = system.client(system.token(agent["email"], agent["password"]))
    contact = as_agent.post(system.url(f"{V1}/contacts"), json={"first_name": "Ada", "last_name": "Lovelace"}).json()
    document = as_agent.post(
        system.url(f"{V1}/documents"),
        files={"file": ("quote.txt", b"Quote: 3 engines, 12500.00 EUR\n", "text/plain")},
        data={"title": "Quote 2026-17", "kind": "quote", "contact_id": contact["id"]},
    ).json()
    as_agent.post(system.url(f"{V1}/documents/{document['id']}/transitions"), json={"action": "submit"})
    deal = as_agent.post(
        system.url(f"{V1}/deals"),
        json={"contact_id": contact["id"], "title": "Three engines", "amount": "12500.00", "currency": "EUR"},
    ).json()
    for stage in ("qualified", "proposal", "negotiation"):
        as_agent.post(system.url(f"{V1}/deals/{deal['id']}/transitions"), json={"stage": stage})
    page, expect = web.page, web.expect

    web.sign_in(manager["email"], manager["password"])
    expect(page).to_have_url(re.compile("/manager"))  # a manager's home
    page.goto("/documents")
    web.check("documents")
    page.get_by_role("link", name="Quote 2026-17").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quote 2026-17")
    web.check("document")
    page.get_by_label("Comment").fill("prices ok")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("dl.facts")).to_contain_text("Approved")
    expect(page.locator("ol.timeline")).to_contain_text("prices ok")

    page.goto("/deals")
    expect(page.get_by_role("heading", name="Negotiation")).to_be_visible()
    web.check("deals")
    page.get_by_label('Move "Three engines" to').select_option("won")  # chosen: nothing moves yet
    page.get_by_role("button", name='Move "Three engines"').click()
    expect(page.locator(".stage-won")).to_contain_text("Three engines")
    assert as_agent.get(system.url(f"{V1}/deals/{deal['id']}")).json()["stage"] == "won"

    query = {"department_id": team["id"], "kpi": "deals_won,won_amount"}
    assert eventually(
        lambda: system.client().get(system.url(f"{V1}/reports/kpis"), params=query).json()["kpis"]["deals_won"] == 1
    )
    page.goto(f"/manager?department_id={team['id']}")
    expect(page.locator('[data-kpi="deals_won"] .value')).to_have_text("1")
    expect(page.locator('[data-kpi="won_amount"] .value')).to_have_text("12500.00 EUR")
    expect(page.get_by_role("table", name="Deal funnel: Conversion to next, Amount")).to_contain_text("12500.00")
    web.check("manager")
