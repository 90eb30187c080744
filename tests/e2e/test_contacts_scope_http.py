"""Who sees which contacts: another department's user finds nothing, a manager above sees all below."""

import uuid

import pytest
from e2e_helpers import V1, contact_body


@pytest.fixture(scope="module")
def org(system):
    """HQ > Sales > Sales Berlin, HQ > Support; a user per role; a contact owned in Sales Berlin."""
    admin = system.client()
    suffix = uuid.uuid4().hex[:6]

    def department(name, parent=None):
        body = {"name": f"{name} {suffix}", "parent_id": parent}
        return admin.post(system.url(f"{V1}/departments"), json=body).json()["id"]

    hq = department("HQ")
    sales = department("Sales", hq)
    berlin = department("Sales Berlin", sales)
    support = department("Support", hq)

    def user(role, dept):
        email = f"{role}-{uuid.uuid4().hex[:8]}@e2e.example.com"
        body = {"email": email, "name": role, "role": role, "department_id": dept, "password": "a-password-1234"}
        assert admin.post(system.url(f"{V1}/users"), json=body).status_code == 201
        return system.client(system.token(email, "a-password-1234"))

    people = {
        "berlin agent": user("agent", berlin),
        "sales manager": user("manager", sales),
        "support agent": user("agent", support),
        "support manager": user("manager", support),
    }
    contact = people["berlin agent"].post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    return {"admin": admin, "people": people, "contact": contact, "support": support, "berlin": berlin}


def found_by_search(system, caller, contact) -> list[str]:
    """The ids a search for the contact's unique e-mail lists (one page however long the list grows)."""
    page = caller.get(system.url(f"{V1}/contacts"), params={"q": contact["emails"][0]})
    assert page.status_code == 200, page.text
    return [item["id"] for item in page.json()["items"]]


@pytest.mark.parametrize("who", ["support agent", "support manager"])
def test_another_departments_user_gets_404_and_changes_nothing(system, org, who):
    caller, contact = org["people"][who], org["contact"]
    url = system.url(f"{V1}/contacts/{contact['id']}")
    assert caller.get(url).status_code == 404
    assert caller.patch(url, json={"last_name": "Hijacked"}).status_code == 404
    assert caller.delete(url).status_code == 404
    assert caller.get(system.url(f"{V1}/contacts/{contact['id']}/history")).status_code == 404
    assert found_by_search(system, caller, contact) == []
    assert found_by_search(system, org["admin"], contact) == [contact["id"]]  # there to be found
    exported = caller.get(system.url(f"{V1}/contacts/export"))
    assert exported.status_code == 200 and contact["emails"][0] not in exported.text
    after = org["admin"].get(url).json()
    assert after["version"] == contact["version"] and after["last_name"] == contact["last_name"]


@pytest.mark.parametrize("who", ["berlin agent", "sales manager"])
def test_the_owner_and_a_manager_above_see_and_change_the_contact(system, org, who):
    caller, contact = org["people"][who], org["contact"]
    url = system.url(f"{V1}/contacts/{contact['id']}")
    read = caller.get(url)
    assert read.status_code == 200
    assert found_by_search(system, caller, contact) == [contact["id"]]

    changed = caller.patch(url, json={"last_name": f"Changed by {who}"}, headers={"If-Match": read.headers["ETag"]})

    assert changed.status_code == 200, changed.text
    after = org["admin"].get(url).json()
    assert after["last_name"] == f"Changed by {who}"
    assert after["version"] == read.json()["version"] + 1


def test_no_one_puts_a_contact_in_a_department_they_cannot_see(system, org):
    refused = org["people"]["berlin agent"].post(
        system.url(f"{V1}/contacts"), json=contact_body(department_id=org["support"])
    )
    assert refused.status_code == 422 and "department_id" in refused.json()["errors"]
    allowed = org["people"]["sales manager"].post(
        system.url(f"{V1}/contacts"), json=contact_body(department_id=org["berlin"])
    )
    assert allowed.status_code == 201


def test_the_timeline_of_a_hidden_contact_is_a_404(system, org):
    hidden = org["people"]["support agent"].get(system.url(f"{V1}/contacts/{org['contact']['id']}/timeline"))
    assert hidden.status_code == 404
