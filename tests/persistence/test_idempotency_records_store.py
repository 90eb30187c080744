"""The gateway's idempotency records on SQLite and PostgreSQL: a keyed POST claims its key and stores its
answer in one statement each, committed on its own."""

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_kernel.db import get_engine, utcnow
from crm_kernel.migrations import upgrade
from gateway.middleware import claim, finish
from gateway.models import IdempotencyRecord

ANSWER = {"status": 201, "headers": {"Location": "/api/v1/contacts/c1"}, "body": '{"id": "c1"}'}


@pytest.fixture
def engine(database_url):
    upgrade("gateway", database_url)
    return get_engine(database_url)


def test_a_new_key_is_claimed_then_answered_and_a_retry_gets_the_answer(engine):
    claimed_at = utcnow()
    with Session(engine) as session:
        assert claim(session, "u:1", "k-1", "print", claimed_at, owner="gw-1") is None
    with Session(engine) as session:
        in_progress = claim(session, "u:1", "k-1", "print", utcnow(), owner="gw-2")
        assert (in_progress.status, in_progress.owner) == (None, "gw-1")
    with Session(engine) as session:
        finish(session, "u:1", "k-1", claimed_at, ANSWER)
    with Session(engine) as session:
        answered = claim(session, "u:1", "k-1", "print", utcnow(), owner="gw-2")
        assert (answered.status, answered.headers, answered.body) == (201, ANSWER["headers"], ANSWER["body"])


def test_a_key_freed_by_its_request_is_claimed_again_by_the_retry(engine):
    claimed_at = utcnow()
    with Session(engine) as session:
        claim(session, "u:1", "k-2", "print", claimed_at)
        finish(session, "u:1", "k-2", claimed_at, None)  # a 5xx: no answer to keep
    with Session(engine) as session:
        assert claim(session, "u:1", "k-2", "print", utcnow(), owner="gw-2") is None
        assert session.get(IdempotencyRecord, ("u:1", "k-2")).owner == "gw-2"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # round trips are PostgreSQL's
def test_claiming_a_new_key_and_storing_its_answer_are_one_statement_each_outside_a_transaction(engine):
    sent = []
    listen = ("before_cursor_execute", lambda conn, *args: sent.append(conn.connection.autocommit))
    event.listen(engine, *listen)
    claimed_at = utcnow()
    with Session(engine) as session:
        claim(session, "u:1", "k-3", "print", claimed_at)
    with Session(engine) as session:
        finish(session, "u:1", "k-3", claimed_at, ANSWER)
    event.remove(engine, *listen)

    assert sent == [True, True]  # no BEGIN, SELECT, COMMIT: two round trips where seven were
