"""The gateway as the public meets it: throttled logins, revocable tokens, idempotent retries, headers."""

import json
import socket
import uuid

from access_world import World
from e2e_helpers import V1, contact_body, count_contacts
from werkzeug.http import parse_options_header

from crm_kernel.scope import Scope
from crm_kernel.signing import signed_headers


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


def raw_exchange(system, head: str, body: bytes = b"") -> bytes:
    """Send a request's head (and maybe some body) on a socket of our own; the response's first bytes.

    The server must answer without the rest of the body: if it waited for it, the read would time out.
    """
    host, port = system.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        return connection.recv(65536)


def test_a_huge_content_length_is_refused_at_once_and_without_a_token_no_body_is_read(system):
    token = system.token()
    declared = 300 * 1024 * 1024
    head = (
        f"POST /api/v1/contacts HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: {declared}\n"
        f"Idempotency-Key: {uuid.uuid4().hex}\n"
    )
    assert raw_exchange(system, head + f"Authorization: Bearer {token}\n").startswith(b"HTTP/1.1 413")
    assert raw_exchange(system, head).startswith(b"HTTP/1.1 401")
    forged = head.replace("Content-Length: 314572800", "Content-Length: 10") + "Authorization: Bearer forged\n"
    assert raw_exchange(system, forged).startswith(b"HTTP/1.1 401")


def test_a_chunked_body_past_the_json_limit_is_a_413_and_creates_nothing(system):
    api = system.client()
    before = count_contacts(system, api)

    def chunks():
        yield b'{"first_name": "Ada", "last_name": "'
        for _ in range(40):
            yield b"x" * 64 * 1024  # 2.5 MiB in all, past the 1 MiB limit
        yield b'"}'

    response = api.post(
        system.url(f"{V1}/contacts"),
        data=chunks(),
        headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 413 and response.headers["Content-Type"] == "application/problem+json"
    assert count_contacts(system, api) == before


def test_a_login_retried_with_an_idempotency_key_is_never_replayed_from_storage(system):
    agent = new_agent(system, system.client())
    login = system.url(f"{V1}/auth/token")
    body = {"email": agent["email"], "password": agent["password"]}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = system.http.post(login, json=body, headers=headers)
    retry = system.http.post(login, json=body, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers


def test_failures_from_one_address_behind_the_proxy_do_not_lock_the_user_out_elsewhere(system):
    agent = new_agent(system, system.client())
    login = system.url(f"{V1}/auth/token")
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    wrong = {"email": agent["email"], "password": "not-the-password"}
    statuses = [system.http.post(login, json=wrong, headers=attacker).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    real = system.http.post(
        login, json={"email": agent["email"], "password": agent["password"]}, headers={"X-Forwarded-For": "203.0.113.5"}
    )
    assert real.status_code == 200


def service_url(system, offset: int, path: str) -> str:
    host, port = system.base_url.rsplit(":", 1)
    return f"{host}:{int(port) + offset}{path}"


def test_internal_routes_refuse_what_the_gateway_did_not_sign(system):
    api = system.client()
    before = count_contacts(system, api)
    admin_scope = json.dumps(["anyone", "admin", None, []])
    forged = {"X-Scope": admin_scope, "X-Actor": "anyone"}
    export = system.http.get(service_url(system, 1, "/export"), headers=forged)
    assert export.status_code == 401 and "signed" in export.json()["detail"]
    imported = system.http.post(
        service_url(system, 1, "/import"),
        data=b"first_name,last_name,emails\nEve,Forged,eve@example.com\n",
        headers={**forged, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 401
    assert count_contacts(system, api) == before
    contact = api.post(system.url(f"{V1}/contacts"), json={"first_name": "Signed", "last_name": "Reads"}).json()
    read = system.http.get(service_url(system, 1, f"/contacts/{contact['id']}"), headers=forged)
    assert read.status_code == 401 and "Reads" not in read.text
    files = {"file": ("note.txt", b"signed blobs only\n", "text/plain")}
    document = api.post(system.url(f"{V1}/documents"), files=files, data={"title": "Note"}).json()
    blob = system.http.get(service_url(system, 3, f"/blobs/{document['sha256']}"), headers=forged)
    assert blob.status_code == 401 and b"signed blobs only" not in blob.content
    put = system.http.put(service_url(system, 3, "/blobs"), data=b"planted", headers=forged)
    assert put.status_code == 401
    assert api.get(system.url(f"{V1}/documents/{document['id']}/content")).content == b"signed blobs only\n"


def test_an_internal_request_whose_signed_actor_was_changed_dropped_or_added_is_refused(system):
    api = system.client()
    agent = new_agent(system, api)
    admin_id = api.get(system.url(f"{V1}/users/me")).json()["id"]
    key = (system.log.parent / "internal-key").read_bytes().strip()  # `make run`'s generated key
    url = service_url(system, 1, "/import")
    signed = signed_headers(key, "POST", "/import", Scope.system(), actor=agent["id"])
    anonymous = signed_headers(key, "POST", "/import", Scope.system())
    dropped = {name: value for name, value in signed.items() if name != "X-Actor"}
    before = count_contacts(system, api)

    def post(headers, name):
        body = f"first_name,email\n{name},{name.lower()}.{uuid.uuid4().hex[:8]}@example.com\n".encode()
        return system.http.post(url, data=body, headers={**headers, "Content-Type": "text/csv"})

    for forged in (signed | {"X-Actor": admin_id}, dropped, anonymous | {"X-Actor": agent["id"]}):
        refused = post(forged, "Mallory")
        assert refused.status_code == 401 and "does not match" in refused.json()["detail"]
    # The query is signed too: an import signed to create only cannot be replayed as an update.
    create_only = signed_headers(key, "POST", "/import?mode=create", Scope.system(), actor=agent["id"])
    replayed = system.http.post(
        f"{url}?mode=update", data=b"first_name,email\nMallory,m@example.com\n", headers=create_only
    )
    assert replayed.status_code == 401 and "does not match" in replayed.json()["detail"]
    assert count_contacts(system, api) == before
    accepted = post(signed, "Trent")  # the same signature, untouched: the key and the route are right
    assert accepted.status_code == 200 and accepted.json()["created"] == 1, accepted.text
    imported = api.get(system.url(f"{V1}/contacts/imports/{accepted.json()['import_id']}")).json()
    assert imported["actor"] == agent["id"]


def test_any_upload_name_downloads_under_that_name_and_adds_no_header_parameter(system):
    api = system.client()
    for name in ['say "hi"; filename=evil.exe', "Rechnung 100 €.pdf", "holiday 😀🌴.txt", "%0D%0Aencoded.txt"]:
        files = {"file": (name, b"named content\n", "text/plain")}
        document = api.post(system.url(f"{V1}/documents"), files=files, data={"title": "Named"})
        assert document.status_code == 201, document.text
        download = api.get(system.url(f"{V1}/documents/{document.json()['id']}/content"))
        assert download.status_code == 200 and download.content == b"named content\n"
        disposition, params = parse_options_header(download.headers["Content-Disposition"])
        assert disposition == "attachment" and params == {"filename": document.json()["filename"]}


def test_a_password_typed_into_the_email_field_never_reaches_the_logs(system):
    typed = f"Sup3r-{uuid.uuid4().hex}"
    login = system.http.post(system.url(f"{V1}/auth/token"), json={"email": typed, "password": "x"})
    assert login.status_code == 401
    assert typed.encode() not in system.log.read_bytes()


def test_users_companies_and_tags_out_of_sight_read_exactly_as_unknown_ones(system):
    world = World(system)
    agent = world.users["berlin agent"]
    elsewhere, nobody = world.user_ids["support agent"], uuid.uuid4().hex
    about = {"contact_id": world.ids["contact"], "department_id": world.berlin}

    def answers(path, body_for):
        replies = [agent.post(world.url(path), json=body_for(user)) for user in (elsewhere, nobody)]
        assert [r.status_code for r in replies] == [422, 422], [r.text for r in replies]
        assert replies[0].json() == replies[1].json()

    answers("tickets", lambda user: {"subject": "Late", "priority": "normal", "assignee_id": user, **about})
    answers("tasks", lambda user: {"title": "Call", "assignee_id": user, **about})
    answers(f"campaigns/{world.ids['campaign']}/responses", lambda u: {**about, "kind": "opened", "user_id": u})
    support = world.users["support agent"]
    company = support.post(world.url("companies"), json={"name": "Hidden Ltd", "department_id": world.support})
    tag = f"secret-{uuid.uuid4().hex[:8]}"
    carried = support.post(world.url("contacts"), json=contact_body(department_id=world.support, tags=[tag]))
    assert company.status_code == carried.status_code == 201
    answers("contacts", lambda _: contact_body(department_id=world.berlin, company_id=company.json()["id"]))
    for asked in (tag, f"never-{uuid.uuid4().hex[:8]}"):
        listed = agent.get(world.url("contacts"), params={"tag": asked})
        assert listed.status_code == 200 and listed.json()["items"] == []


def test_reports_refuse_days_past_the_calendar_and_comments_come_in_pages(system):
    api = system.client()
    far = api.get(system.url(f"{V1}/reports/kpis"), params={"from": "9999-12-31", "to": "9999-12-31"})
    assert far.status_code == 422 and set(far.json()["errors"]) == {"from", "to"}
    contact = api.post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    ticket = api.post(system.url(f"{V1}/tickets"), json={"subject": "Paged", "contact_id": contact["id"]}).json()
    for n in range(3):
        comment = {"body": f"note {n}", "internal": True}
        assert api.post(system.url(f"{V1}/tickets/{ticket['id']}/comments"), json=comment).status_code == 201
    page = api.get(system.url(f"{V1}/tickets/{ticket['id']}/comments"), params={"limit": 2}).json()
    assert [c["body"] for c in page["items"]] == ["note 0", "note 1"] and page["next_cursor"]


def test_business_rules_hold_over_http_four_eyes_departments_and_filed_records(system):
    world = World(system)
    manager, agent = world.users["sales manager"], world.users["berlin agent"]
    files = {"file": ("own.txt", b"my own quote\n", "text/plain")}
    own = manager.post(world.url("documents"), files=files, data={"kind": "quote"}).json()
    assert manager.post(world.url(f"documents/{own['id']}/transitions"), json={"action": "submit"}).status_code == 200
    refused = manager.post(world.url(f"documents/{own['id']}/transitions"), json={"action": "approve"})
    assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
    assert world.admin.get(world.url(f"documents/{own['id']}")).json()["status"] == "in_review"

    moved = agent.patch(world.url(f"contacts/{world.ids['contact']}"), json={"department_id": None})
    assert moved.status_code == 422 and list(moved.json()["errors"]) == ["department_id"]
    assert world.admin.get(world.url(f"contacts/{world.ids['contact']}")).json()["department_id"] == world.berlin

    for field in ("deal_id", "ticket_id"):
        filed = agent.post(world.url("documents"), files=files, data={field: uuid.uuid4().hex})
        assert filed.status_code == 422 and list(filed.json()["errors"]) == [field]
    filed = agent.post(world.url("documents"), files=files, data={"deal_id": world.ids["deal"]})
    assert filed.status_code == 201 and filed.json()["deal_id"] == world.ids["deal"]
