"""A CSV import with its report row by row, undone; the other pages, in English and in Russian."""

import re

from journeys import V1

CSV = (
    "first_name;last_name;email;phone\n"
    "Grace;Hopper;grace-{n}@navy.example;\n"
    "Alan;Turing;alan-{n}@example.com;\n"
    "Bad;Row;not-an-email;\n"
)


def test_an_import_is_uploaded_with_its_report_and_undone(web, system, tmp_path):
    page, expect = web.page, web.expect
    upload = tmp_path / "contacts.csv"
    upload.write_text(CSV.format(n=tmp_path.name[-6:]))

    web.sign_in(then="/imports")
    web.check("imports")
    page.get_by_label("File", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    report = page.get_by_role("region", name="Import report")
    expect(report.locator(".tile").first).to_contain_text("2")
    expect(report.get_by_role("table")).to_contain_text(re.compile(r"emails: .*email"))  # line 4, in words
    expect(report.get_by_role("table")).to_contain_text("4")
    web.check("import-report")
    admin = system.client()
    assert admin.get(system.url(f"{V1}/contacts"), params={"q": f"grace-{tmp_path.name[-6:]}"}).json()["items"]

    report.get_by_role("button", name="Undo this import").click()
    expect(report).to_contain_text("The import was undone.")
    assert not admin.get(system.url(f"{V1}/contacts"), params={"q": f"grace-{tmp_path.name[-6:]}"}).json()["items"]


def test_the_lists_and_the_account_page_in_english_and_in_russian(web, system):
    page, expect = web.page, web.expect
    web.sign_in(then="/contacts")
    for path, name in (("/contacts", "contacts"), ("/tickets", "tickets"), ("/account", "account")):
        page.goto(path)
        web.check(name)

    page.get_by_label("Language").select_option("ru")
    expect(page.get_by_role("heading", level=1)).to_have_text("Моя учётная запись")
    page.goto("/desk")
    expect(page.get_by_role("heading", level=1)).to_have_text("Мой рабочий стол")
    web.check("desk-ru")
    page.get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile("/signin"))
    web.check("signin-ru")
