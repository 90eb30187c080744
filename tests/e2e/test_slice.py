"""The slice of issue 2 over HTTP, as a client app sees it."""

import hashlib

import pytest
from e2e_helpers import V1, contact_body, count_contacts, eventually, kpis


def test_health_readiness_and_metrics(system):
    assert system.http.get(system.url("/healthz")).json() == {"status": "ok"}
    ready = system.http.get(system.url("/readyz"))
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True, "started": True}
    metrics = system.http.get(system.url("/metrics")).text
    assert "crm_entrypoint_duration_seconds_bucket" in metrics


def test_contacts_can_be_created_read_updated_and_listed(system):
    api = system.client()
    created = api.post(system.url(f"{V1}/contacts"), json=contact_body(emails=["Grace@Navy.MIL"]))
    assert created.status_code == 201
    contact = created.json()
    assert created.headers["Location"] == f"{V1}/contacts/{contact['id']}"
    assert created.headers["ETag"] == '"1"' and contact["emails"] == ["grace@navy.mil"]

    read = api.get(system.url(f"{V1}/contacts/{contact['id']}"))
    assert read.json() == contact and read.headers["ETag"] == '"1"'

    updated = api.patch(
        system.url(f"{V1}/contacts/{contact['id']}"), json={"last_name": "Murray"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200
    assert updated.json()["last_name"] == "Murray" and updated.headers["ETag"] == '"2"'

    stale = api.patch(
        system.url(f"{V1}/contacts/{contact['id']}"), json={"last_name": "X"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert api.get(system.url(f"{V1}/contacts/{contact['id']}")).json()["last_name"] == "Murray"

    found = api.get(system.url(f"{V1}/contacts"), params={"q": "murr"}).json()
    assert [item["id"] for item in found["items"]] == [contact["id"]]


@pytest.mark.engines("sqlite", "postgresql")
def test_lists_page_with_a_cursor_without_gaps_or_repeats(system):
    api = system.client()
    tag = "paging-test"
    ids = {api.post(system.url(f"{V1}/contacts"), json=contact_body(tags=[tag])).json()["id"] for _ in range(5)}
    seen, cursor = [], None
    while True:
        page = api.get(
            system.url(f"{V1}/contacts"), params={"tag": tag, "limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)


def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(system):
    api = system.client()
    before = count_contacts(system, api)
    response = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Ada", "phones": ["12345"], "colour": "red"})
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and set(problem["errors"]) == {"phones", "colour"}
    assert count_contacts(system, api) == before

    not_json = api.post(system.url(f"{V1}/contacts"), data="{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["detail"]
    assert count_contacts(system, api) == before


def test_an_interaction_needs_a_known_contact_and_a_zoned_time(system):
    api = system.client()
    unknown = api.post(
        system.url(f"{V1}/interactions"),
        json={"contact_id": "nobody", "channel": "call", "occurred_at": "2026-11-30T10:00:00+01:00"},
    )
    assert unknown.status_code == 422 and "contact_id" in unknown.json()["errors"]
    contact = api.post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    naive = api.post(
        system.url(f"{V1}/interactions"),
        json={"contact_id": contact["id"], "channel": "call", "occurred_at": "2026-11-30T10:00:00"},
    )
    assert naive.status_code == 422 and "occurred_at" in naive.json()["errors"]
    logged = api.post(
        system.url(f"{V1}/interactions"),
        json={"contact_id": contact["id"], "channel": "call", "occurred_at": "2026-11-30T10:00:00+01:00"},
    )
    assert logged.status_code == 201
    assert logged.json()["occurred_at"] == "2026-11-30T09:00:00+00:00"
    listed = api.get(system.url(f"{V1}/interactions"), params={"contact_id": contact["id"]}).json()
    assert [item["id"] for item in listed["items"]] == [logged.json()["id"]]


def test_a_document_comes_back_byte_for_byte_with_its_sha256(system):
    api = system.client()
    content = bytes(range(256)) * 4096  # 1 MiB, every byte value
    uploaded = api.post(
        system.url(f"{V1}/documents"),
        files={"file": ("../../etc/contract.pdf", content, "application/pdf")},
        data={"title": "Contract", "kind": "contract"},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["sha256"] == hashlib.sha256(content).hexdigest() and document["size"] == len(content)
    assert document["filename"] == "contract.pdf"
    downloaded = api.get(system.url(f"{V1}/documents/{document['id']}/content"))
    assert downloaded.status_code == 200 and downloaded.content == content
    assert downloaded.headers["X-Content-SHA256"] == document["sha256"]

    empty = api.post(system.url(f"{V1}/documents"), files={"file": ("empty.txt", b"", "text/plain")})
    assert empty.status_code == 422 and "file" in empty.json()["errors"]


def test_reports_count_what_was_created_fed_by_events_only(system):
    api = system.client()
    before = kpis(system, api)
    contact = api.post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    for _ in range(2):
        api.post(
            system.url(f"{V1}/interactions"),
            json={"contact_id": contact["id"], "channel": "email", "occurred_at": "2026-11-29T08:00:00+00:00"},
        )
    expected = {"contacts_created": before["contacts_created"] + 1, "interactions": before["interactions"] + 2}
    assert eventually(lambda: kpis(system, api) == expected), kpis(system, api)


def test_without_a_valid_token_nothing_is_served(system):
    assert system.http.get(system.url(f"{V1}/contacts")).status_code == 401
    wrong = system.http.post(
        system.url(f"{V1}/auth/token"), json={"email": "admin@e2e.example.com", "password": "wrong-password"}
    )
    assert wrong.status_code == 401 and wrong.headers["Content-Type"] == "application/problem+json"
    forged = system.http.get(system.url(f"{V1}/contacts"), headers={"Authorization": "Bearer forged.token.value"})
    assert forged.status_code == 401


def test_admins_manage_departments_and_users_and_roles_are_enforced(system):
    admin = system.client()
    sales = admin.post(
        system.url(f"{V1}/departments"), json={"name": "Sales Berlin", "timezone": "Europe/Berlin"}
    ).json()
    assert sales["working_hours"]["mon"] == [["09:00", "17:00"]]
    agent = {
        "email": f"agent-{sales['id'][:6]}@e2e.example.com",
        "name": "Agent",
        "role": "agent",
        "department_id": sales["id"],
        "password": "agent-password-1234",
    }
    assert admin.post(system.url(f"{V1}/users"), json=agent).status_code == 201
    assert admin.post(system.url(f"{V1}/users"), json=agent).status_code == 409
    as_agent = system.client(system.token(agent["email"], agent["password"]))
    me = as_agent.get(system.url(f"{V1}/users/me")).json()
    assert me["role"] == "agent" and me["department_id"] == sales["id"] and "password" not in me
    assert as_agent.post(system.url(f"{V1}/departments"), json={"name": "Mine"}).status_code == 403
    mine = as_agent.post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    assert mine["owner_id"] == me["id"] and mine["department_id"] == sales["id"]


def test_the_openapi_document_describes_the_routes(system):
    document = system.http.get(system.url(f"{V1}/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    for path in (
        "/api/v1/auth/token",
        "/api/v1/contacts/{id}",
        "/api/v1/documents/{id}/content",
        "/api/v1/reports/kpis",
    ):
        assert path in document["paths"]
    assert "Contact" in document["components"]["schemas"]


def test_every_response_carries_a_request_id_and_echoes_the_callers(system):
    response = system.http.get(system.url(f"{V1}/contacts"), headers={"X-Request-Id": "trace-me-123"})
    assert response.headers["X-Request-Id"] == "trace-me-123"
