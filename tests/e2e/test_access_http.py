"""Who sees and does what, over HTTP, for every route with an `{id}` in the OpenAPI document.

Object level: a user of another department gets a 404 on each record of Sales Berlin (or the 403 that
their role gets on that verb for any id) and changes nothing. Function level: each role gets exactly
the verbs it should. The table below must name every `{id}` route the gateway publishes.
"""

import re
import uuid

import pytest
from access_world import World
from e2e_helpers import around_today, contact_body, eventually, every_item

ADMIN = ("admin",)
PLANNERS = ("admin", "manager")
STAFF = ("admin", "manager", "agent")
EVERYONE = ("admin", "manager", "agent", "analyst")
FILE = object()  # the body is a multipart upload

# (method, path under /api/v1 naming the record kinds of World.ids, body, roles that may use it, scoped)
ROUTES = [
    ("GET", "contacts/{contact}", None, STAFF),
    ("PATCH", "contacts/{contact}", {"last_name": "Changed"}, STAFF),
    ("DELETE", "contacts/{contact}", None, STAFF),
    ("GET", "contacts/{contact}/duplicates", None, STAFF),
    ("GET", "contacts/{contact}/history", None, STAFF),
    ("POST", "contacts/{contact}/merge", {"source_ids": ["{merge_target}"]}, STAFF),
    ("POST", "contacts/{contact}/restore", None, STAFF),
    ("GET", "contacts/{contact}/timeline", None, STAFF),
    ("POST", "contacts/merges/{merge}/undo", None, STAFF),
    ("GET", "contacts/imports/{import}", None, STAFF),
    ("POST", "contacts/imports/{import}/undo", None, STAFF),
    ("GET", "companies/{company}", None, STAFF),
    ("PATCH", "companies/{company}", {"name": "Changed"}, STAFF),
    ("DELETE", "companies/{company}", None, STAFF),
    ("POST", "companies/{company}/restore", None, STAFF),
    ("GET", "documents/{document}", None, STAFF),
    ("GET", "documents/{document}/content", None, STAFF),
    ("GET", "documents/{document}/versions", None, STAFF),
    ("POST", "documents/{document}/versions", FILE, STAFF),
    ("GET", "documents/{document}/transitions", None, STAFF),
    ("POST", "documents/{document}/transitions", {"action": "submit"}, STAFF),
    ("GET", "plans/{plan}", None, EVERYONE),
    ("PATCH", "plans/{plan}", {"value": "6"}, PLANNERS),
    ("DELETE", "plans/{plan}", None, PLANNERS),
    ("GET", "sla-policies/{sla_policy}", None, STAFF),
    ("PATCH", "sla-policies/{sla_policy}", {"targets": {"low": 9, "normal": 8, "high": 7, "urgent": 6}}, PLANNERS),
    ("DELETE", "sla-policies/{sla_policy}", None, PLANNERS),
    ("GET", "departments/{department}", None, EVERYONE),
    ("PATCH", "departments/{department}", {"name": "Changed"}, ADMIN),
    ("DELETE", "departments/{department}", None, ADMIN),
    ("GET", "users/{user}", None, EVERYONE),
    ("PATCH", "users/{user}", {"name": "Changed"}, ADMIN),
    ("DELETE", "users/{user}", None, ADMIN),
    ("GET", "interactions/{interaction}", None, STAFF),
    ("PATCH", "interactions/{interaction}", {"subject": "changed"}, STAFF),
    ("DELETE", "interactions/{interaction}", None, STAFF),
    ("GET", "tickets/{ticket}", None, STAFF),
    ("PATCH", "tickets/{ticket}", {"subject": "changed"}, STAFF),
    ("DELETE", "tickets/{ticket}", None, STAFF),
    ("GET", "tickets/{ticket}/comments", None, STAFF),
    ("POST", "tickets/{ticket}/comments", {"body": "hello", "internal": True}, STAFF),
    ("POST", "tickets/{ticket}/transitions", {"status": "open"}, STAFF),
    ("GET", "deals/{deal}", None, STAFF),
    ("PATCH", "deals/{deal}", {"title": "changed"}, STAFF),
    ("DELETE", "deals/{deal}", None, STAFF),
    ("GET", "deals/{deal}/history", None, STAFF),
    ("POST", "deals/{deal}/transitions", {"stage": "qualified"}, STAFF),
    ("GET", "tasks/{task}", None, STAFF),
    ("PATCH", "tasks/{task}", {"title": "changed"}, STAFF),
    ("DELETE", "tasks/{task}", None, STAFF),
    ("GET", "campaigns/{campaign}", None, STAFF),
    ("PATCH", "campaigns/{campaign}", {"name": "changed"}, STAFF),
    ("DELETE", "campaigns/{campaign}", None, STAFF),
    ("GET", "campaigns/{campaign}/responses", None, STAFF),
    ("POST", "campaigns/{campaign}/responses", {"contact_id": "{contact}", "kind": "opened"}, STAFF),
]
# Custom field definitions belong to the whole company (no department): function-level rules only.
COMPANY_WIDE = [
    ("GET", "contact-fields/{field}", None, STAFF),
    ("PATCH", "contact-fields/{field}", {"label": "Changed"}, ADMIN),
    ("DELETE", "contact-fields/{field}", None, ADMIN),
]
OUTSIDERS = {"support agent": "agent", "support manager": "manager"}
ROLES = {"admin": "admin", "sales manager": "manager", "berlin agent": "agent", "analyst": "analyst"}


@pytest.fixture(scope="module")
def world(system):
    return World(system)


def filled(value, ids: dict):
    """`value` with every `{kind}` replaced by the id of that kind of record."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: filled(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, ids) for item in value]
    return value


def send(world, who: str, method: str, path: str, body, ids: dict | None = None):
    ids = ids or world.ids
    url = world.url(filled(path, ids))
    if body is FILE:
        return world.users[who].post(url, files={"file": ("v2.txt", b"other\n", "text/plain")})
    return world.users[who].request(method, url, json=filled(body, ids))


def state(world) -> dict:
    """What the admin reads of every record: versions, statuses and what hangs off them."""
    ids = world.ids
    read = lambda path: world.admin.get(world.url(filled(path, ids))).json()  # noqa: E731
    records = [path for method, path, _, _ in ROUTES if method == "GET" and path.count("/") == 1]
    summary = lambda record: [record.get(key) for key in ("version", "status", "name")]  # noqa: E731
    found = {path: summary(read(path)) for path in records}
    found["merged into"] = read("contacts/{merge_target}")["version"]
    found["comments"] = len(read("tickets/{ticket}/comments")["items"])
    found["stages"] = len(read("deals/{deal}/history")["items"])
    found["responses"] = read("campaigns/{campaign}/responses")["counts"]
    found["document versions"] = len(read("documents/{document}/versions")["items"])
    found["document steps"] = len(read("documents/{document}/transitions")["items"])
    return found


def test_the_table_names_every_route_with_an_id_that_the_gateway_publishes(world):
    published = world.admin.get(world.url("openapi.json")).json()["paths"]
    shape = lambda path: re.sub(r"\{[^}]+\}", "{}", path)  # noqa: E731
    with_id = {(method.upper(), shape(path)) for path, ops in published.items() if "{" in path for method in ops}
    tested = {(method, shape(f"/api/v1/{path}")) for method, path, _, _ in ROUTES + COMPANY_WIDE}

    assert with_id == tested


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_a_user_of_another_department_gets_404_on_every_record_and_changes_nothing(world, outsider):
    before = state(world)

    answers = {(method, path): send(world, outsider, method, path, body) for method, path, body, _ in ROUTES}

    expected = {(method, path): 404 if OUTSIDERS[outsider] in roles else 403 for method, path, _, roles in ROUTES}
    assert {key: response.status_code for key, response in answers.items()} == expected
    assert all(r.headers["Content-Type"] == "application/problem+json" for r in answers.values())
    assert state(world) == before


@pytest.mark.parametrize("who", ROLES)
def test_each_role_gets_exactly_the_verbs_it_should(world, who):
    unknown = {kind: uuid.uuid4().hex for kind in world.ids}  # nothing changes whatever is allowed

    answers = {
        (method, path): send(world, who, method, path, body, unknown).status_code
        for method, path, body, _ in ROUTES + COMPANY_WIDE
    }

    refused = {key for key, status in answers.items() if status == 403}
    assert refused == {(method, path) for method, path, _, roles in ROUTES + COMPANY_WIDE if ROLES[who] not in roles}
    assert all(status in (404, 422) for key, status in answers.items() if key not in refused), answers


@pytest.mark.parametrize("who", ["admin", "sales manager", "berlin agent"])
def test_the_department_its_manager_above_and_the_admin_read_every_record(world, who):
    reads = {path: send(world, who, "GET", path, None).status_code for method, path, _, _ in ROUTES if method == "GET"}

    # An agent reads the plans set for them, not their department's.
    expected = {path: 404 if (who, path) == ("berlin agent", "plans/{plan}") else 200 for path in reads}
    assert reads == expected


LISTS = {
    "contacts": "contact",
    "companies": "company",
    "documents": "document",
    "plans": "plan",
    "sla-policies": "sla_policy",
    "departments": "department",
    "users": "user",
    "interactions": "interaction",
    "tickets": "ticket",
    "deals": "deal",
    "tasks": "task",
    "campaigns": "campaign",
}


@pytest.mark.engines("sqlite", "postgresql")
def test_lists_show_each_user_only_what_they_may_see(world):
    def listed(who, path):
        return {item["id"] for item in every_item(world.users[who], world.url(path))}

    for path, kind in LISTS.items():
        assert world.ids[kind] in listed("sales manager", path), path
        assert world.ids[kind] not in listed("support manager", path), path
        assert world.ids[kind] not in listed("support agent", path), path


@pytest.mark.engines("sqlite", "postgresql")
def test_reports_count_only_what_the_caller_may_see(world):
    # A department of this test's own under Sales: two contacts by the admin, one by its own agent.
    hamburg = world.department(f"Sales Hamburg {uuid.uuid4().hex[:6]}", world.sales)
    hamburg_agent = world.user("hamburg agent", "agent", hamburg, uuid.uuid4().hex[:8])
    for _ in range(2):
        world.create("contacts", contact_body(department_id=hamburg))
    world.create("contacts", contact_body(department_id=hamburg), api=hamburg_agent)
    callers = dict(world.users, **{"hamburg agent": hamburg_agent})
    query = {**around_today(), "kpi": "contacts_created", "department_id": hamburg}

    def answers():
        return {who: api.get(world.url("reports/kpis"), params=query) for who, api in callers.items()}

    def counted(answer):
        return answer.json()["kpis"]["contacts_created"] if answer.status_code == 200 else answer.status_code

    seen = eventually(lambda: (found := answers()) and counted(found["admin"]) == 3 and found) or answers()

    assert {who: counted(answer) for who, answer in seen.items()} == {
        "admin": 3,
        "sales manager": 3,  # the department is below theirs
        "analyst": 3,
        "hamburg agent": 1,  # an agent's figures are their own records
        "berlin agent": 404,  # a sibling department
        "support manager": 404,
        "support agent": 404,
    }
    assert seen["support manager"].json()["detail"] == seen["support agent"].json()["detail"]


def test_no_one_places_a_record_in_a_department_they_may_not_see(world):
    agent, manager = world.users["berlin agent"], world.users["sales manager"]
    ticket = {"contact_id": world.ids["contact"], "subject": "Where?", "priority": "low"}

    refused = agent.post(world.url("tickets"), json=ticket | {"department_id": world.sales})
    created = agent.post(world.url("tickets"), json=ticket)
    moved = manager.patch(world.url(f"tickets/{created.json()['id']}"), json={"department_id": world.sales})
    out_of_reach = {
        path: world.users["support manager"].post(world.url(path), json=body | {"department_id": world.berlin})
        for path, body in {
            "tasks": {"title": "x"},
            "companies": {"name": "Elsewhere"},
            "plans": {"metric": "contacts_created", "period": "2026-04", "value": "1"},
        }.items()
    }

    assert refused.status_code == 422 and "department_id" in refused.json()["errors"]
    assert created.status_code == 201 and created.json()["department_id"] == world.berlin
    assert moved.status_code == 200 and moved.json()["department_id"] == world.sales
    assert agent.get(world.url(f"tickets/{created.json()['id']}")).status_code == 404  # now above the agent
    assert {path: answer.status_code for path, answer in out_of_reach.items()} == dict.fromkeys(out_of_reach, 422)
    assert all("department_id" in answer.json()["errors"] for answer in out_of_reach.values())


def test_no_one_hands_a_contact_or_company_to_a_user_they_may_not_see(world):
    agent, manager = world.users["berlin agent"], world.users["sales manager"]
    support_agent, berlin_agent = world.user_ids["support agent"], world.user_ids["berlin agent"]

    to_support = agent.post(world.url("contacts"), json=contact_body(owner_id=support_agent))
    to_nobody = world.admin.post(world.url("companies"), json={"name": "Ghost", "owner_id": uuid.uuid4().hex})
    to_nul = world.admin.post(world.url("contacts"), json=contact_body(owner_id="\x00"))
    to_berlin = manager.post(
        world.url("contacts"), json=contact_body(owner_id=berlin_agent, department_id=world.berlin)
    )
    moved = agent.patch(world.url(f"contacts/{to_berlin.json()['id']}"), json={"owner_id": support_agent})

    assert to_support.status_code == 422 and "owner_id" in to_support.json()["errors"]
    assert to_nobody.status_code == 422 and "owner_id" in to_nobody.json()["errors"]
    assert to_nul.status_code == 422 and "owner_id" in to_nul.json()["errors"]
    assert to_berlin.status_code == 201 and to_berlin.json()["owner_id"] == berlin_agent
    assert moved.status_code == 422 and "owner_id" in moved.json()["errors"]
    assert world.admin.get(world.url(f"contacts/{to_berlin.json()['id']}")).json()["version"] == 1


def test_an_import_places_no_row_where_the_caller_may_not(world):
    csv_body = f"first_name,email,department_id\nIda,ida.{uuid.uuid4().hex[:8]}@example.com,{world.support}\n"

    report = world.users["berlin agent"].post(
        world.url("contacts/import"), data=csv_body.encode(), headers={"Content-Type": "text/csv"}
    )

    assert report.status_code == 200, report.text
    assert (report.json()["created"], report.json()["failed"]) == (0, 1)
    assert report.json()["errors"][0]["line"] == 2 and "department_id" in report.json()["errors"][0]["errors"]


def test_an_import_hands_no_contact_to_a_user_of_another_department(world):
    agent, outsider = world.users["berlin agent"], world.user_ids["support agent"]

    def attempt():
        # The contacts service learns users from the gateway's events: within moments of their creation.
        row = f"Ida,ida.{uuid.uuid4().hex[:8]}@example.com,{outsider}"
        report = agent.post(
            world.url("contacts/import"),
            data=f"first_name,email,owner_id\n{row}\n".encode(),
            headers={"Content-Type": "text/csv"},
        ).json()
        return report if report["failed"] == 1 else None

    report = eventually(attempt)

    assert report is not None and report["created"] == 0
    assert report["errors"] == [{"line": 2, "errors": {"owner_id": ["not a user you may hand records to"]}}]
