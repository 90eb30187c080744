"""Who sees and does what on the interactions routes, over HTTP: object- and function-level rules.

One tree of departments (HQ > Sales > Sales Berlin, HQ > Support), one user per role and place, and
one record of each kind in Sales Berlin, shared by the department (no owner), built once per module.
"""

import uuid

import pytest
from e2e_helpers import V1, contact_body

PASSWORD = "a-long-enough-password"


class World:
    def __init__(self, system):
        self.system = system
        self.admin = system.client()
        tag = uuid.uuid4().hex[:8]
        hq = self.department(f"HQ {tag}")
        sales = self.department(f"Sales {tag}", hq)
        self.berlin = self.department(f"Sales Berlin {tag}", sales)
        self.sales = sales
        support = self.department(f"Support {tag}", hq)
        self.users = {
            "admin": self.admin,
            "sales manager": self.user("manager", sales, tag),
            "berlin agent": self.user("agent", self.berlin, tag),
            "support manager": self.user("manager", support, tag),
            "support agent": self.user("agent", support, tag),
            "analyst": self.user("analyst", hq, tag),
        }
        self.ids = self.records()

    def url(self, path: str) -> str:
        return self.system.url(f"{V1}/{path}")

    def department(self, name: str, parent: str | None = None) -> str:
        created = self.admin.post(self.url("departments"), json={"name": name, "parent_id": parent})
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def user(self, role: str, department: str, tag: str):
        email = f"{role}-{uuid.uuid4().hex[:6]}-{tag}@scope.example.com"
        body = {"email": email, "name": role, "role": role, "department_id": department, "password": PASSWORD}
        assert self.admin.post(self.url("users"), json=body).status_code == 201
        return self.system.client(self.system.token(email, PASSWORD))

    def create(self, path: str, body: dict) -> str:
        created = self.admin.post(self.url(path), json=body)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def records(self) -> dict:
        here = {"department_id": self.berlin}
        contact = self.create("contacts", contact_body(marketing_consent=True, **here))
        about = {"contact_id": contact, **here}
        return {
            "contact": contact,
            "interaction": self.create(
                "interactions",
                {"channel": "call", "direction": "inbound", "occurred_at": "2026-03-10T10:00:00Z", "user_id": None}
                | about,
            ),
            "ticket": self.create("tickets", {"subject": "Late", "priority": "normal", **about}),
            "deal": self.create(
                "deals", {"title": "Engines", "amount": "100", "currency": "EUR", "owner_id": None, **about}
            ),
            "task": self.create("tasks", {"title": "Call back", "assignee_id": None, **about}),
            "campaign": self.create("campaigns", {"name": "Spring", "owner_id": None, **here}),
        }


@pytest.fixture(scope="module")
def world(system):
    return World(system)


# (kind of the record, method, path under /api/v1 with {id}, body)
READS = [
    ("interaction", "GET", "interactions/{id}", None),
    ("ticket", "GET", "tickets/{id}", None),
    ("ticket", "GET", "tickets/{id}/comments", None),
    ("deal", "GET", "deals/{id}", None),
    ("deal", "GET", "deals/{id}/history", None),
    ("task", "GET", "tasks/{id}", None),
    ("campaign", "GET", "campaigns/{id}", None),
    ("campaign", "GET", "campaigns/{id}/responses", None),
]
WRITES = [
    ("interaction", "PATCH", "interactions/{id}", {"subject": "changed"}),
    ("interaction", "DELETE", "interactions/{id}", None),
    ("ticket", "PATCH", "tickets/{id}", {"subject": "changed"}),
    ("ticket", "POST", "tickets/{id}/comments", {"body": "hello", "internal": True}),
    ("ticket", "POST", "tickets/{id}/transitions", {"status": "open"}),
    ("ticket", "DELETE", "tickets/{id}", None),
    ("deal", "PATCH", "deals/{id}", {"title": "changed"}),
    ("deal", "POST", "deals/{id}/transitions", {"stage": "qualified"}),
    ("deal", "DELETE", "deals/{id}", None),
    ("task", "PATCH", "tasks/{id}", {"title": "changed"}),
    ("task", "DELETE", "tasks/{id}", None),
    ("campaign", "PATCH", "campaigns/{id}", {"name": "changed"}),
    ("campaign", "POST", "campaigns/{id}/responses", {"contact_id": "CONTACT", "kind": "opened"}),
    ("campaign", "DELETE", "campaigns/{id}", None),
]
ITEMS = {"interaction": "interactions", "ticket": "tickets", "deal": "deals", "task": "tasks", "campaign": "campaigns"}


def send(world, who: str, method: str, path: str, kind: str, body: dict | None):
    url = world.url(path.format(id=world.ids[kind]))
    if body is not None:
        body = {key: world.ids["contact"] if value == "CONTACT" else value for key, value in body.items()}
    return world.users[who].request(method, url, json=body)


def state(world) -> dict:
    """What the admin reads of every record: versions, comments, history and responses."""
    read = lambda path: world.admin.get(world.url(path)).json()  # noqa: E731
    ids = world.ids
    found = {kind: read(f"{ITEMS[kind]}/{ids[kind]}")["version"] for kind in ITEMS}
    found["comments"] = len(read(f"tickets/{ids['ticket']}/comments")["items"])
    found["history"] = len(read(f"deals/{ids['deal']}/history")["items"])
    found["responses"] = read(f"campaigns/{ids['campaign']}/responses")["counts"]
    return found


@pytest.mark.parametrize("outsider", ["support agent", "support manager"])
def test_a_user_of_another_department_gets_404_on_every_record_route_and_changes_nothing(world, outsider):
    before = state(world)

    answers = {
        (method, path): send(world, outsider, method, path, kind, body) for kind, method, path, body in READS + WRITES
    }

    assert {key: response.status_code for key, response in answers.items()} == dict.fromkeys(answers, 404)
    assert all(r.headers["Content-Type"] == "application/problem+json" for r in answers.values())
    assert state(world) == before
    timeline = world.users[outsider].get(world.url(f"contacts/{world.ids['contact']}/timeline"))
    # 404 once contacts are scoped; never any of the department's items meanwhile.
    assert timeline.status_code == 404 or (timeline.status_code == 200 and timeline.json()["items"] == [])


@pytest.mark.parametrize("who", ["admin", "sales manager", "berlin agent"])
def test_the_department_its_manager_above_and_the_admin_read_and_change_its_records(world, who):
    reads = {path: send(world, who, method, path, kind, body).status_code for kind, method, path, body in READS}
    changes = {
        path: send(world, who, method, path, kind, body).status_code
        for kind, method, path, body in WRITES
        if method == "PATCH"
    }
    timeline = world.users[who].get(world.url(f"contacts/{world.ids['contact']}/timeline"))

    assert reads == dict.fromkeys(reads, 200)
    assert changes == dict.fromkeys(changes, 200)
    assert timeline.status_code == 200
    assert {item["kind"] for item in timeline.json()["items"]} >= {"interaction", "ticket", "deal", "task"}


def test_an_analyst_is_refused_every_interactions_route(world):
    lists = ["interactions", "tickets", "deals", "tasks", "tasks/overdue", "campaigns"]
    answers = [
        send(world, "analyst", method, path, kind, body).status_code for kind, method, path, body in READS + WRITES
    ]
    answers += [world.users["analyst"].get(world.url(path)).status_code for path in lists]
    answers += [world.users["analyst"].post(world.url(path), json={}).status_code for path in ITEMS.values()]
    answers.append(world.users["analyst"].get(world.url(f"contacts/{world.ids['contact']}/timeline")).status_code)

    assert set(answers) == {403}


def test_lists_show_each_user_only_what_they_may_see(world):
    def listed(who, path):
        return {item["id"] for item in world.users[who].get(world.url(path), params={"limit": 200}).json()["items"]}

    for kind, path in ITEMS.items():
        assert world.ids[kind] in listed("sales manager", path), kind
        assert world.ids[kind] in listed("berlin agent", path), kind
        assert world.ids[kind] not in listed("support manager", path), kind
        assert world.ids[kind] not in listed("support agent", path), kind


def test_no_one_places_a_record_in_a_department_they_may_not_see(world):
    agent, manager = world.users["berlin agent"], world.users["sales manager"]
    ticket = {"contact_id": world.ids["contact"], "subject": "Where?", "priority": "low"}

    refused = agent.post(world.url("tickets"), json=ticket | {"department_id": world.sales})
    created = agent.post(world.url("tickets"), json=ticket)
    moved = manager.patch(world.url(f"tickets/{created.json()['id']}"), json={"department_id": world.sales})
    out_of_reach = world.users["support manager"].post(
        world.url("tasks"), json={"title": "x", "department_id": world.berlin}
    )

    assert refused.status_code == 422 and "department_id" in refused.json()["errors"]
    assert created.status_code == 201 and created.json()["department_id"] == world.berlin
    assert moved.status_code == 200 and moved.json()["department_id"] == world.sales
    assert agent.get(world.url(f"tickets/{created.json()['id']}")).status_code == 404  # now above the agent
    assert out_of_reach.status_code == 422 and "department_id" in out_of_reach.json()["errors"]
