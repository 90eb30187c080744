"""The contact card's edit in place: a conflicting edit is shown, never overwritten silently."""

import os
import re
import signal

from journeys import V1
from system_launcher import process_serving


def test_an_edit_made_meanwhile_is_shown_beside_yours_and_yours_is_kept_until_you_choose(web, system):
    admin = system.client()
    contact = admin.post(system.url(f"{V1}/contacts"), json={"first_name": "Zoe", "last_name": "Nunez"}).json()
    page, expect = web.page, web.expect
    web.sign_in(then=f"/contacts/{contact['id']}")
    expect(page.get_by_label("Last name")).to_have_value("Nunez")

    changed = admin.patch(system.url(f"{V1}/contacts/{contact['id']}"), json={"last_name": "Núñez"})
    assert changed.status_code == 200
    page.get_by_label("Last name").fill("Nunez-Garcia")
    page.get_by_role("button", name="Save", exact=True).click()

    conflict = page.get_by_role("alert").filter(has_text="saved this contact meanwhile")
    expect(conflict).to_contain_text("Núñez")
    expect(conflict).to_contain_text("Nunez-Garcia")
    expect(page.get_by_label("Last name")).to_have_value("Nunez-Garcia")
    assert admin.get(system.url(f"{V1}/contacts/{contact['id']}")).json()["last_name"] == "Núñez"
    web.check("contact-conflict")

    conflict.get_by_role("button", name="Save mine over theirs").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert admin.get(system.url(f"{V1}/contacts/{contact['id']}")).json()["last_name"] == "Nunez-Garcia"

    page.get_by_label("Phones").fill("12345")
    page.get_by_role("button", name="Save", exact=True).click()
    # the API's words beside the field they are about; the number typed stays
    expect(page.get_by_label("Phones")).to_have_accessible_description(re.compile("phone", re.IGNORECASE))
    expect(page.get_by_label("Phones")).to_have_value("12345")


def test_a_save_while_the_service_is_paused_is_retried_and_says_so(web, system):
    admin = system.client()
    contact = admin.post(system.url(f"{V1}/contacts"), json={"first_name": "Ada", "last_name": "Byron"}).json()
    page, expect = web.page, web.expect
    web.sign_in(then=f"/contacts/{contact['id']}")
    expect(page.get_by_label("Last name")).to_have_value("Byron")
    page.wait_for_load_state("networkidle")  # the card's other requests answered before the pause
    contacts_pid = process_serving(int(system.base_url.rsplit(":", 1)[1]) + 1)

    os.kill(contacts_pid, signal.SIGSTOP)
    try:
        page.get_by_label("Last name").fill("Lovelace")
        page.get_by_role("button", name="Save", exact=True).click()
        # the gateway's deadline (5 s here) answers 503 with Retry-After; the page says it will retry
        expect(page.locator("#status")).to_contain_text("The service is unavailable; retrying in", timeout=20_000)
        expect(page.get_by_label("Last name")).to_have_value("Lovelace")
    finally:
        os.kill(contacts_pid, signal.SIGCONT)

    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible(timeout=30_000)
    expect(page.locator("#status")).to_be_hidden()
    assert admin.get(system.url(f"{V1}/contacts/{contact['id']}")).json()["last_name"] == "Lovelace"
