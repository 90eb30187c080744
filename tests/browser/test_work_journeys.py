"""Journeys of daily work in the pages: duplicates merged and the merge undone on the contact card,
a ticket moved through its workflow and commented, deals moved on the board by drag and drop and by
keyboard (lost asks for the reason), a document uploaded, versioned and downloaded."""

import re
import uuid

from journeys import V1, make_user


def test_a_duplicate_is_merged_into_the_card_and_the_merge_undone(web, system):
    agent = make_user(system, "agent")
    api = system.client(system.token(agent["email"], agent["password"]))
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    target = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Ada", "last_name": "King", "emails": [email]})
    source = api.post(
        system.url(f"{V1}/contacts"),
        json={"first_name": "Ada", "last_name": "Lovelace", "emails": [email], "phones": ["+442071234567"]},
    )
    target, source = target.json(), source.json()
    call = {"contact_id": source["id"], "channel": "call", "direction": "inbound", "subject": "Asked about prices"}
    assert api.post(system.url(f"{V1}/interactions"), json=call).status_code == 201
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then=f"/contacts/{target['id']}")

    duplicates = page.get_by_role("region", name="Possible duplicates")
    expect(duplicates).to_contain_text("Ada Lovelace")
    expect(duplicates).to_contain_text("same e-mail")
    web.check("contact-duplicates")
    duplicates.get_by_role("button", name="Merge into this contact: Ada Lovelace").click()

    expect(duplicates).to_contain_text("Ada Lovelace was merged into this contact.")
    # the card shows the merged contact at once: the source's phone, and a version that saves cleanly
    expect(page.get_by_label("Phones")).to_have_value(re.compile(r"\+442071234567"))
    expect(page.locator("ol.timeline")).to_contain_text("Asked about prices")  # the source's history came along
    undo = duplicates.get_by_role("button", name="Undo the merge")
    expect(undo).to_be_focused()
    web.check("contact-merged")
    assert api.get(system.url(f"{V1}/contacts/{source['id']}")).status_code == 404

    undo.click()
    expect(duplicates.get_by_role("button", name="Merge into this contact: Ada Lovelace")).to_be_visible()
    expect(page.get_by_label("Phones")).to_have_value("")
    assert api.get(system.url(f"{V1}/contacts/{source['id']}")).status_code == 200


def test_a_ticket_moves_through_its_workflow_and_takes_internal_and_public_comments(web, system):
    agent = make_user(system, "agent")
    api = system.client(system.token(agent["email"], agent["password"]))
    contact = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Linus", "last_name": "Pauling"}).json()
    ticket = api.post(
        system.url(f"{V1}/tickets"),
        json={"contact_id": contact["id"], "subject": "Invoice twice", "priority": "high", "assignee_id": agent["id"]},
    ).json()
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then=f"/tickets/{ticket['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoice twice")

    moves = page.get_by_role("group", name="Move the ticket")
    for button, status in (
        ("Open", "Open"),
        ("Wait for the customer", "Pending"),
        ("Open", "Open"),
        ("Resolve", "Resolved"),
    ):
        moves.get_by_role("button", name=button, exact=True).click()
        expect(page.locator("dl.facts dd").first).to_have_text(status)
        expect(moves.get_by_role("button").first).to_be_focused()  # the keyboard stays with the moves
    assert api.get(system.url(f"{V1}/tickets/{ticket['id']}")).json()["status"] == "resolved"

    comments = page.get_by_role("region", name="Comments")
    page.get_by_role("textbox", name="Comment").fill("Checked the ledger: one charge is a duplicate.")
    page.get_by_role("button", name="Add the comment").click()
    expect(comments.locator("li")).to_have_count(1)
    page.get_by_role("textbox", name="Comment").fill("We refunded the second charge.")
    page.get_by_label("Internal (staff only)").uncheck()
    page.get_by_role("button", name="Add the comment").click()
    expect(comments.locator("li")).to_have_count(2)
    expect(comments.locator("li").nth(0)).to_contain_text("internal")
    expect(comments.locator("li").nth(1)).to_contain_text("to the customer")
    web.check("ticket-comments")
    stored = api.get(system.url(f"{V1}/tickets/{ticket['id']}/comments")).json()["items"]
    assert [(c["body"][:7], c["internal"]) for c in stored] == [("Checked", True), ("We refu", False)]

    moves.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator("dl.facts dd").first).to_have_text("Closed")
    expect(page.locator("dl.facts")).to_contain_text("Resolved")  # when, not an SLA countdown
    moves.get_by_role("button", name="Reopen").click()
    expect(page.locator("dl.facts dd").first).to_have_text("Open")
    expect(page.locator("dl.facts .countdown")).to_be_visible()


def test_deals_move_on_the_board_by_drag_and_drop_and_by_keyboard_and_lost_asks_why(web, system):
    agent = make_user(system, "agent")
    api = system.client(system.token(agent["email"], agent["password"]))
    contact = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Rosalind", "last_name": "Franklin"}).json()
    deals = {}
    for title in ("Microscopes", "Film stock"):
        body = {"contact_id": contact["id"], "title": title, "amount": "1200.00", "currency": "EUR"}
        deals[title] = api.post(system.url(f"{V1}/deals"), json=body).json()
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then="/deals")
    lead = page.get_by_role("region", name=re.compile("^Lead"))
    qualified = page.get_by_role("region", name=re.compile("^Qualified"))
    expect(lead.locator("li.deal")).to_have_count(2)
    web.check("deals")

    lead.locator("li.deal", has_text="Microscopes").drag_to(qualified)
    expect(qualified.locator("li.deal")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text('"Microscopes" moved to Qualified.')
    assert api.get(system.url(f"{V1}/deals/{deals['Microscopes']['id']}")).json()["stage"] == "qualified"

    # the keyboard alone: to the card's menu, choose a stage, then the Move button
    menu = page.get_by_label('Move "Film stock" to')
    menu.focus()
    menu.press("ArrowDown")  # Qualified: choosing moves nothing yet
    expect(lead.locator("li.deal")).to_have_count(1)
    menu.press("ArrowDown")  # Lost
    expect(menu).to_have_value("lost")
    menu.press("Tab")
    expect(page.get_by_role("button", name='Move "Film stock"')).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name='"Film stock" is lost')
    expect(dialog.get_by_label("Why was it lost?")).to_be_focused()
    web.check("deals-lost-reason")
    page.keyboard.type("Bought from a competitor")
    dialog.get_by_role("button", name="OK").click()
    lost = page.get_by_role("region", name=re.compile("^Lost"))
    expect(lost.locator("li.deal")).to_contain_text("Bought from a competitor")
    stored = api.get(system.url(f"{V1}/deals/{deals['Film stock']['id']}")).json()
    assert (stored["stage"], stored["lost_reason"]) == ("lost", "Bought from a competitor")

    lost.get_by_role("button", name="Stage history").click()
    expect(lost.locator(".history")).to_contain_text("Lead → Lost")


def test_a_document_is_uploaded_gets_a_new_version_and_each_version_downloads(web, system, tmp_path):
    agent = make_user(system, "agent")
    first, second = tmp_path / "offer.txt", tmp_path / "offer-v2.txt"
    first.write_text("Offer, first draft\n")
    second.write_text("Offer, second draft with the discount\n")
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then="/documents")

    page.get_by_text("Upload a document").first.click()
    form = page.get_by_role("form", name="Upload a document")
    form.get_by_label("Title").fill("Offer for Franklin")
    form.get_by_label("Kind").select_option("quote")
    form.get_by_label("File", exact=True).set_input_files(str(first))
    form.get_by_role("button", name="Upload a document").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Offer for Franklin")
    document_id = page.url.rsplit("/", 1)[1]

    versions = page.get_by_role("table", name="Versions")
    expect(versions.locator("tbody tr")).to_have_count(1)
    new_version = page.get_by_role("form", name="Upload a new version")
    new_version.get_by_label("File", exact=True).set_input_files(str(second))
    new_version.get_by_role("button", name="Upload a new version").click()
    expect(versions.locator("tbody tr")).to_have_count(2)
    expect(versions).to_contain_text("offer-v2.txt")
    web.check("document-versions")

    for number, expected in ((1, first), (2, second)):
        name, content = downloaded(web, f"Download Version {number}")
        assert (name, content) == (expected.name, expected.read_bytes())
    api = system.client(system.token(agent["email"], agent["password"]))
    assert api.get(system.url(f"{V1}/documents/{document_id}")).json()["current_version"] == 2


def test_the_contact_list_exports_what_its_filters_show_as_csv(web, system):
    agent = make_user(system, "agent")
    api = system.client(system.token(agent["email"], agent["password"]))
    tag = f"fair-{uuid.uuid4().hex[:6]}"
    for first, tags in (("Marie", [tag]), ("Pierre", [tag]), ("Irene", [])):
        body = {"first_name": first, "last_name": "Curie", "tags": tags}
        assert api.post(system.url(f"{V1}/contacts"), json=body).status_code == 201
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then="/contacts")
    page.get_by_label("Tag", exact=True).fill(tag)
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("table", name="Contacts").locator("tbody tr")).to_have_count(2)

    name, content = downloaded(web, "Export as CSV")
    assert name == "contacts.csv"
    text = content.decode("utf-8-sig")
    assert "Marie" in text and "Pierre" in text and "Irene" not in text


def downloaded(web, button: str) -> tuple[str, bytes]:
    """Clicks `button` and returns the name and bytes of the file the browser saved."""

    def run():
        page = web.raw_page
        with page.expect_download() as info:
            page.get_by_role("button", name=button, exact=True).click()
        download = info.value
        return download.suggested_filename, open(download.path(), "rb").read()

    return web.thread.call(run)
