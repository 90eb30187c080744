"""An admin sets up a department and a user; the user signs in. Every admin page passes axe."""

import re
import uuid

from journeys import V1


def test_an_admin_creates_a_department_and_a_user_who_then_signs_in(web, system):
    page, expect = web.page, web.expect
    department, email = f"Support {uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:8]}@example.com"

    web.sign_in(then="/admin?tab=departments")
    page.get_by_label("Name").fill(department)
    page.get_by_label("Time zone").fill("Asia/Yekaterinburg")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("table", name="Departments")).to_contain_text(department)
    web.check("admin-departments")

    page.get_by_role("link", name="Users and roles").click()
    page.get_by_label("Name", exact=True).fill("Nadia Petrova")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Department").select_option(label=department)
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create").click()
    # the API's words beside the password (its description for a screen reader); what was typed stays
    expect(page.get_by_label("Password", exact=True)).to_have_accessible_description(re.compile("12"))
    expect(page.get_by_label("E-mail", exact=True)).to_have_value(email)
    page.get_by_label("Password", exact=True).fill("nadias-long-password")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("table", name="Users and roles")).to_contain_text(email)
    web.check("admin-users")
    for tab, name in (("sla", "admin-sla"), ("fields", "admin-fields"), ("audit", "admin-audit")):
        page.goto(f"/admin?tab={tab}")
        web.check(name)

    page.get_by_role("button", name="Sign out").click()
    web.sign_in(email, "nadias-long-password")
    expect(page).to_have_url(re.compile("/desk"))
    expect(page.get_by_role("link", name="Nadia Petrova")).to_be_visible()
    me = system.client(system.token(email, "nadias-long-password")).get(system.url(f"{V1}/users/me")).json()
    assert (me["role"], me["name"]) == ("agent", "Nadia Petrova")
