"""The pages of daily work in Russian at both widths: every label translated (no key shows itself),
times in Russian, no serious axe finding, screenshots for a person to look at."""

import re

from journeys import V1, make_user

KEY = re.compile(r"\b(nav|field|account|deal|doc|ticket|dup|mgr|adm|imp|kpi|stage|status)\.[a-z_]+\b")


def test_the_pages_of_daily_work_read_in_russian(web, system, tmp_path):
    agent = make_user(system, "agent", timezone="Europe/Moscow")
    api = system.client(system.token(agent["email"], agent["password"]))
    contact = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Анна", "last_name": "Павлова"}).json()
    ticket = {"contact_id": contact["id"], "subject": "Не работает роутер", "assignee_id": agent["id"]}
    ticket = api.post(system.url(f"{V1}/tickets"), json=ticket).json()
    deal = {"contact_id": contact["id"], "title": "Поставка", "amount": "500.00", "currency": "RUB"}
    assert api.post(system.url(f"{V1}/deals"), json=deal).status_code == 201
    upload = tmp_path / "договор.txt"
    upload.write_text("Договор поставки\n")
    with upload.open("rb") as content:
        document = api.post(
            system.url(f"{V1}/documents"), data={"title": "Договор", "kind": "contract"}, files={"file": content}
        ).json()
    page, expect = web.page, web.expect
    web.sign_in(agent["email"], agent["password"], then="/account")
    page.get_by_label("Language").select_option("ru")
    expect(page.get_by_role("heading", level=1)).to_have_text("Моя учётная запись")
    web.check("account-ru")

    for path, title, name in (
        (f"/contacts/{contact['id']}", "Анна Павлова", "contact-card-ru"),
        (f"/tickets/{ticket['id']}", "Не работает роутер", "ticket-ru"),
        ("/deals", "Сделки", "deals-ru"),  # the deal's card with its Russian menu
        (f"/documents/{document['id']}", "Договор", "document-ru"),
        ("/documents", "Документы", "documents-ru"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        text = page.locator("main").inner_text()
        assert not KEY.search(text), f"{path}: an untranslated key {KEY.search(text).group(0)!r}"
        web.check(name)
    page.goto("/deals")
    expect(page.get_by_label("Перевести «Поставка» на")).to_be_visible()
    page.goto(f"/documents/{document['id']}")
    expect(page.locator("dl.facts")).to_contain_text("32 Б")  # the size in Russian units
    page.goto(f"/tickets/{ticket['id']}")
    expect(page.locator("dd.due time")).to_contain_text(
        re.compile(r"(янв|февр|мар|апр|мая|июн|июл|авг|сент|окт|нояб|дек)")
    )


def test_the_lists_the_managers_desk_and_administration_read_in_russian(web, system):
    page, expect = web.page, web.expect
    web.sign_in(then="/desk")
    page.get_by_label("Language").select_option("ru")
    for path, title, name in (
        ("/desk", "Мой рабочий стол", "desk-admin-ru"),
        ("/contacts", "Контакты", "contacts-ru"),
        ("/tickets", "Обращения", "tickets-ru"),
        ("/imports", None, "imports-ru"),
        ("/manager", "Панель руководителя", "manager-ru"),
        ("/admin", "Администрирование", "admin-ru"),
        ("/admin?tab=departments", "Администрирование", "admin-departments-ru"),
        ("/admin?tab=sla", "Администрирование", "admin-sla-ru"),
        ("/admin?tab=audit", "Администрирование", "admin-audit-ru"),
    ):
        page.goto(path)
        if title:
            expect(page.get_by_role("heading", level=1)).to_have_text(title)
        page.wait_for_load_state("networkidle")
        text = page.locator("main").inner_text()
        assert not KEY.search(text), f"{path}: an untranslated key {KEY.search(text).group(0)!r}"
        web.check(name)
