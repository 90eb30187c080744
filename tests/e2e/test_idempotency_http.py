"""A retry whose first attempt committed in the service, but whose answer never reached the client
(the gateway answered 503 and dropped its own record), gets the first entity back: the service
recorded the caller's Idempotency-Key in the same commit as the write."""

import uuid

import pytest
from sqlalchemy import create_engine, text


def forget_gateway_record(system, key: str) -> int:
    """What the gateway does when its call ended in a 503: its record of the key is gone."""
    database = system.log.parent / "gateway.db"
    if not database.exists():
        pytest.skip("reads the gateway's SQLite file; the same path runs on PostgreSQL in tests/chaos")
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        deleted = connection.execute(text("DELETE FROM idempotency_records WHERE key = :key"), {"key": key}).rowcount
    engine.dispose()
    return deleted


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/contacts", {"first_name": "Retried", "last_name": "Once"}),
        ("/api/v1/tickets", {"subject": "Retried once", "priority": "normal"}),
    ],
)
def test_a_retry_after_a_lost_answer_returns_the_first_entity(system, path, body):
    client = system.client()
    if path == "/api/v1/tickets":
        contact = client.post(system.url("/api/v1/contacts"), json={"first_name": "For", "last_name": "Ticket"})
        body = body | {"contact_id": contact.json()["id"]}
    key = uuid.uuid4().hex

    first = client.post(system.url(path), json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert forget_gateway_record(system, key) == 1
    retried = client.post(system.url(path), json=body, headers={"Idempotency-Key": key})

    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == first.json()["id"]
    other_key = client.post(system.url(path), json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert other_key.json()["id"] != first.json()["id"]
