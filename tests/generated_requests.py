"""Requests generated from the OpenAPI document (schemathesis) against a running system, with `{id}`
in a path naming a record that exists, so that a generated body meets a real record's rules rather
than a 404. Used by tests/e2e/test_api_contract.py (no 5xx, every error a problem document) and by
scripts/openapi_acceptance.py (how many the API accepts, and why it refuses the rest)."""

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings

V1 = "/api/v1"


def seed_records(client, url: Callable[[str], str]) -> dict[str, str]:
    """One record of each kind, created as the first admin through the API, keyed by its collection's
    path (`contacts`, `sla-policies`, ...): the ids `{id}` is replaced with."""
    made: dict[str, str] = {}

    def create(path: str, body: dict) -> str:
        response = client.post(url(f"{V1}/{path}"), json=body)
        assert response.status_code == 201, f"seeding {path}: {response.status_code} {response.text[:300]}"
        made[path] = response.json()["id"]
        return made[path]

    department = create("departments", {"name": "Seeded", "timezone": "Europe/Berlin"})
    user = {"email": "seeded@example.com", "name": "Seeded", "role": "agent", "department_id": department}
    create("users", {**user, "password": "a-seeded-password-1"})
    company = create("companies", {"name": "Seeded Ltd"})
    contact = create("contacts", {"first_name": "Sid", "last_name": "Seeded", "company_id": company})
    at = "2026-03-02T10:00:00+00:00"
    create("interactions", {"contact_id": contact, "channel": "call", "direction": "inbound", "occurred_at": at})
    create("tickets", {"contact_id": contact, "subject": "Seeded"})
    create("deals", {"contact_id": contact, "title": "Seeded", "amount": "10.00", "currency": "EUR"})
    create("tasks", {"title": "Seeded", "contact_id": contact, "due_at": at})
    create("campaigns", {"name": "Seeded"})
    document = client.post(
        url(f"{V1}/documents"),
        files={"file": ("seeded.txt", b"seeded\n", "text/plain")},
        data={"title": "Seeded", "kind": "contract", "contact_id": contact},
    )
    assert document.status_code == 201, document.text[:300]
    made["documents"] = document.json()["id"]
    return made


def seed_configuration(client, url: Callable[[str], str], department: str) -> dict[str, str]:
    """A plan, an SLA policy and a custom field (for a system of their own: they change the rules)."""
    made = {}
    for path, body in [
        ("plans", {"metric": "deals_won", "period": "2026-03", "value": "5", "department_id": department}),
        (
            "sla-policies",
            {"department_id": department, "targets": {"low": 600, "normal": 240, "high": 60, "urgent": 30}},
        ),
        ("contact-fields", {"key": "seeded", "label": "Seeded", "type": "text"}),
    ]:
        response = client.post(url(f"{V1}/{path}"), json=body)
        assert response.status_code == 201, f"seeding {path}: {response.status_code} {response.text[:300]}"
        made[path] = response.json()["id"]
    return made


def record_id_for(operation, seeded: dict[str, str]) -> str | None:
    """The seeded id for `{id}` in the operation's path (`/contacts/{id}/merge`: the contact); none for
    a DELETE, which would leave the other operations nothing to work on."""
    parts = operation.path.removeprefix(f"{V1}/").split("/")
    if operation.method == "delete" or "{id}" not in parts:
        return None
    return seeded.get("/".join(parts[: parts.index("{id}")]))


def send_generated(system, headers: dict, operation, examples: int, seeded: dict[str, str], check, prepare=None):
    """`examples` requests generated for `operation`, sent with `headers` (a token: one login for many
    operations, since a login costs a password hash); `prepare(case)` may change each before it is
    sent, `check(case, response)` is called on each."""
    record_id = record_id_for(operation, seeded)

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def send(case):
        if record_id is not None:
            case.path_parameters["id"] = record_id
        if prepare is not None:
            prepare(case)
        check(case, case.call(base_url=system.base_url, headers=headers, timeout=30))

    send()
