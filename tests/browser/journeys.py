"""Data the browser journeys start from, made through the public API as an admin."""

import time
import uuid

V1 = "/api/v1"
PASSWORD = "a-browser-test-password"


def make_department(system, name: str, **fields) -> dict:
    response = system.client().post(
        system.url(f"{V1}/departments"),
        json={"name": f"{name} {uuid.uuid4().hex[:6]}", "timezone": "Europe/Berlin"} | fields,
    )
    assert response.status_code == 201, response.text
    return response.json()


def make_user(system, role: str, department: dict | None = None, **fields) -> dict:
    """A user of `role` (in `department`, else a new one) who signs in with PASSWORD."""
    department = department or make_department(system, "Call centre")
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "name": f"{role.title()} {email[4:12]}", "role": role, "password": PASSWORD}
    body["department_id"] = department["id"]
    response = system.client().post(system.url(f"{V1}/users"), json=body | fields)
    assert response.status_code == 201, response.text
    return response.json() | {"password": PASSWORD}


def eventually(check, seconds: float = 20):
    """Polls `check` until it returns a truthy value (reports follow events, a second or so behind)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
