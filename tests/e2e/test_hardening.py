"""The gateway as the public meets it: throttled logins, revocable tokens, idempotent retries, headers."""

import uuid

from e2e_helpers import V1, contact_body, count_contacts


def new_agent(system, admin, role="agent", department_id=None) -> dict:
    agent = {
        "email": f"{role}-{uuid.uuid4().hex[:8]}@e2e.example.com",
        "name": role.title(),
        "role": role,
        "password": "agent-password-1234",
    } | ({"department_id": department_id} if department_id else {})
    created = admin.post(system.url(f"{V1}/users"), json=agent)
    assert created.status_code == 201, created.text
    return agent | {"id": created.json()["id"]}


def test_repeated_failed_logins_lock_the_account_for_a_while(system):
    agent = new_agent(system, system.client())
    login = system.url(f"{V1}/auth/token")
    wrong = {"email": agent["email"], "password": "not-the-password"}
    statuses = [system.http.post(login, json=wrong).status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = system.http.post(login, json={"email": agent["email"], "password": agent["password"]})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.headers["Content-Type"] == "application/problem+json"


def test_logout_revokes_the_token(system):
    agent = new_agent(system, system.client())
    session = system.client(system.token(agent["email"], agent["password"]))
    assert session.get(system.url(f"{V1}/users/me")).status_code == 200
    assert session.post(system.url(f"{V1}/auth/logout")).status_code == 204
    revoked = session.get(system.url(f"{V1}/users/me"))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_a_disabled_users_token_stops_working_at_once(system):
    admin = system.client()
    agent = new_agent(system, admin)
    session = system.client(system.token(agent["email"], agent["password"]))
    assert admin.delete(system.url(f"{V1}/users/{agent['id']}")).status_code == 204
    assert session.get(system.url(f"{V1}/contacts")).status_code == 401


def test_a_retried_post_with_the_same_idempotency_key_creates_once(system):
    api = system.client()
    before = count_contacts(system, api)
    body, headers = contact_body(), {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post(system.url(f"{V1}/contacts"), json=body, headers=headers)
    retry = api.post(system.url(f"{V1}/contacts"), json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count_contacts(system, api) == before + 1

    other = api.post(system.url(f"{V1}/contacts"), json=contact_body(), headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
    assert count_contacts(system, api) == before + 1


def test_responses_carry_security_headers_and_no_cors_unless_configured(system):
    response = system.http.get(system.url(f"{V1}/contacts"), headers={"Origin": "https://evil.example"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_retried_upload_with_the_same_idempotency_key_stores_one_document(system):
    api = system.client()
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    files = {"file": ("note.txt", b"retried upload\n", "text/plain")}
    first = api.post(system.url(f"{V1}/documents"), files=files, data={"title": "Note"}, headers=headers)
    retry = api.post(system.url(f"{V1}/documents"), files=files, data={"title": "Note"}, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"] and retry.headers["Idempotent-Replayed"] == "true"


def test_the_audit_trail_says_who_changed_what_and_when_within_scope(system):
    admin = system.client()
    departments = [
        admin.post(system.url(f"{V1}/departments"), json={"name": f"{name} {uuid.uuid4().hex[:6]}"}).json()["id"]
        for name in ("Audited", "Elsewhere")
    ]
    contact = admin.post(system.url(f"{V1}/contacts"), json=contact_body(department_id=departments[0])).json()
    admin.patch(system.url(f"{V1}/contacts/{contact['id']}"), json={"last_name": "Audited"})
    trail = admin.get(system.url(f"{V1}/audit"), params={"entity": "contact", "id": contact["id"]}).json()["items"]
    me = admin.get(system.url(f"{V1}/users/me")).json()
    assert [entry["type"] for entry in trail] == ["contact.updated", "contact.created"]
    assert all(entry["actor"] == me["id"] for entry in trail)
    assert trail[0]["changes"]["last_name"][1] == "Audited"

    # A manager reads the trail of their own department's records; another department's manager
    # gets the same 404 as for a record that does not exist.
    managers = [new_agent(system, admin, "manager", department) for department in departments]
    own, other = (system.client(system.token(m["email"], m["password"])) for m in managers)
    query = {"entity": "contact", "id": contact["id"]}
    mine = own.get(system.url(f"{V1}/audit"), params=query)
    assert mine.status_code == 200 and mine.json()["items"] == trail
    hidden = other.get(system.url(f"{V1}/audit"), params=query)
    assert hidden.status_code == 404 and hidden.json()["detail"] == f"no audit trail for contact {contact['id']}"

    agent = new_agent(system, admin)
    as_agent = system.client(system.token(agent["email"], agent["password"]))
    query = {"entity": "contact", "id": contact["id"]}
    assert as_agent.get(system.url(f"{V1}/audit"), params=query).status_code == 403
    unknown = admin.get(system.url(f"{V1}/audit"), params={"entity": "contact", "id": "nope"})
    assert unknown.status_code == 404
    bad = admin.get(system.url(f"{V1}/audit"), params={"entity": "spaceship", "id": "x"})
    assert bad.status_code == 422 and "entity" in bad.json()["errors"]
