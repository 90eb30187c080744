"""Round trips a PostgreSQL request does not need: a connection is pinged when it comes out of the pool
after sitting idle, not at every checkout (a dead one is replaced, a busy one that died is a
disconnect the HTTP layer calls a 503); a one-statement read runs outside a transaction,
and so may a worker whose statements are each whole (`statement_by_statement`)."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crm_kernel.db import _create_engine, outside_transaction, ping_when_idle, statement_by_statement
from crm_kernel.http import database_unavailable


@pytest.fixture
def url(postgres):
    return postgres.create("ping")


@pytest.fixture
def pings(monkeypatch):
    """The connections pinged, by backend process id, as the engine's dialect pings them."""
    pinged = []

    def counting(engine):
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi: pinged.append(id(dbapi)) or ping(dbapi))
        return engine

    return pinged, counting


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def terminate(url: str, pid: int) -> None:
    """The server ends one backend, as a restart ends them all."""
    other = create_engine(url)
    with other.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    other.dispose()


def test_a_connection_given_back_a_moment_ago_is_not_pinged(url, pings):
    pinged, counting = pings
    engine = counting(_create_engine(url))
    first = backend_pid(engine)

    assert [backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pinged == []
    engine.dispose()


def test_a_connection_idle_past_the_limit_is_pinged_at_checkout(url, pings):
    pinged, counting = pings
    engine = counting(create_engine(url, pool_size=1))
    ping_when_idle(engine, idle_seconds=0)
    backend_pid(engine)  # a new connection: nothing to ping

    backend_pid(engine)
    backend_pid(engine)
    assert len(pinged) == 2
    engine.dispose()


def test_an_idle_connection_the_server_ended_is_replaced_before_use(url):
    engine = create_engine(url, pool_size=1)
    ping_when_idle(engine, idle_seconds=0)
    ended = backend_pid(engine)
    terminate(url, ended)

    assert backend_pid(engine) != ended  # no error reaches the caller
    engine.dispose()


def test_a_busy_connection_the_server_ended_fails_as_unavailable_and_the_next_query_reconnects(url):
    engine = create_engine(url, pool_size=1)
    ping_when_idle(engine, idle_seconds=3600)
    ended = backend_pid(engine)
    terminate(url, ended)

    with pytest.raises(DBAPIError) as raised:
        backend_pid(engine)
    assert database_unavailable(raised.value)  # a retryable 503 over HTTP, never a 500
    assert backend_pid(engine) != ended
    engine.dispose()


def in_transaction(session) -> bool:
    """Whether the server holds a transaction open on the session's connection (libpq's own status)."""
    dbapi = session.connection().connection.dbapi_connection
    return dbapi.info.transaction_status != 0  # 0: idle, between transactions


def test_a_read_outside_a_transaction_leaves_none_open_and_the_next_session_has_transactions_again(url):
    engine = _create_engine(url)
    engine.pool.dispose()
    with Session(engine) as session:
        outside_transaction(session)
        assert session.execute(text("SELECT 1")).scalar() == 1
        assert not in_transaction(session)  # nothing for the pool to roll back
    for _ in range(3):  # the pool hands the same connection out again
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
            assert in_transaction(session)
    engine.dispose()


def test_a_write_in_the_next_session_rolls_back_as_a_transaction_does(url):
    engine = _create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body text)"))
    with Session(engine) as session:
        outside_transaction(session)
        session.execute(text("SELECT 1"))
    with Session(engine) as session:
        session.execute(text("INSERT INTO notes VALUES ('not committed')"))
        session.rollback()
    with Session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM notes")).scalar() == 0
    engine.dispose()


def notes(engine) -> list[str]:
    with Session(engine) as session:
        return session.scalars(text("SELECT body FROM notes ORDER BY body")).all()


def test_statement_by_statement_commits_each_statement_and_then_works_in_a_transaction_again(url):
    engine = _create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body text)"))
    with Session(engine) as session:
        with statement_by_statement(session):
            session.execute(text("INSERT INTO notes VALUES ('a: its own commit')"))
            assert not in_transaction(session)
        session.execute(text("INSERT INTO notes VALUES ('b: in a transaction')"))
        assert in_transaction(session)
        session.rollback()

    assert notes(engine) == ["a: its own commit"]
    engine.dispose()


def test_statement_by_statement_inside_an_open_transaction_stays_in_it(url):
    engine = _create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body text)"))
    with Session(engine) as session:
        session.execute(text("INSERT INTO notes VALUES ('before')"))
        with statement_by_statement(session):
            session.execute(text("INSERT INTO notes VALUES ('within')"))
        session.rollback()

    assert notes(engine) == []
    engine.dispose()
