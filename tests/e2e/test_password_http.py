"""`POST /api/v1/auth/password` as a client meets it: the user changes their own password, and every
token of the old one stops working."""

import uuid

from e2e_helpers import V1

OLD = "agent-password-1234"
NEW = "a-brand-new-passphrase-9"


def new_agent(system) -> dict:
    agent = {"email": f"pw-{uuid.uuid4().hex[:8]}@e2e.example.com", "name": "Agent", "role": "agent", "password": OLD}
    created = system.client().post(system.url(f"{V1}/users"), json=agent)
    assert created.status_code == 201, created.text
    return agent | {"id": created.json()["id"]}


def change(system, session, current: str, new: str):
    body = {"current_password": current, "new_password": new}
    return session.post(system.url(f"{V1}/auth/password"), json=body)


def test_a_user_changes_their_password_and_every_old_token_stops_working(system):
    agent = new_agent(system)
    here = system.client(system.token(agent["email"], OLD))
    elsewhere = system.client(system.token(agent["email"], OLD))  # another device
    assert change(system, here, OLD, NEW).status_code == 204
    for session in (here, elsewhere):
        revoked = session.get(system.url(f"{V1}/users/me"))
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    old_login = system.http.post(system.url(f"{V1}/auth/token"), json={"email": agent["email"], "password": OLD})
    assert old_login.status_code == 401
    again = system.client(system.token(agent["email"], NEW))
    assert again.get(system.url(f"{V1}/users/me")).json()["id"] == agent["id"]


def test_a_wrong_current_password_is_a_403_naming_it_and_changes_nothing(system):
    agent = new_agent(system)
    session = system.client(system.token(agent["email"], OLD))
    refused = change(system, session, "not-my-password", NEW)
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "current_password" in refused.json()["errors"]
    assert session.get(system.url(f"{V1}/users/me")).status_code == 200  # still signed in
    assert system.token(agent["email"], OLD)


def test_a_weak_new_password_is_a_422_naming_the_rule_and_changes_nothing(system):
    agent = new_agent(system)
    session = system.client(system.token(agent["email"], OLD))
    refused = change(system, session, OLD, "short")
    assert refused.status_code == 422
    assert any("at least 12 characters" in rule for rule in refused.json()["errors"]["new_password"])
    assert session.get(system.url(f"{V1}/users/me")).status_code == 200
    assert system.token(agent["email"], OLD)


def test_guessing_the_current_password_is_throttled_but_sign_in_stays_open(system):
    agent = new_agent(system)
    session = system.client(system.token(agent["email"], OLD))
    statuses = [change(system, session, f"guess-{n}", NEW).status_code for n in range(5)]
    assert statuses == [403] * 5
    locked = change(system, session, OLD, NEW)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert system.token(agent["email"], OLD)  # the guesser did not lock the user's sign-in


def test_without_a_token_nothing_is_read_or_changed(system):
    response = system.http.post(system.url(f"{V1}/auth/password"), json={"current_password": OLD, "new_password": NEW})
    assert response.status_code == 401
