"""Who calls is read from the user's row once every few seconds, not on every request; a change of
identity made in this process (logout, role, department tree) applies on the very next request."""

import secrets

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from werkzeug.test import EnvironBuilder

from crm_kernel.errors import Forbidden, Unauthorized
from crm_kernel.scope import Scope
from gateway.auth import Authenticator, CallerCache, hash_password, issue_token
from gateway.models import Base, Department, User

KEY = secrets.token_urlsafe(48)


@pytest.fixture
def database():
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    queries = []
    event.listen(engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    yield sessionmaker(engine, expire_on_commit=False), queries
    engine.dispose()


@pytest.fixture
def user(database):
    sessions, _ = database
    with sessions() as session:
        department = Department(name="Sales", working_hours={})
        session.add(department)
        session.flush()
        user = User(
            email="ada@example.com",
            name="Ada",
            role="admin",
            department_id=department.id,
            password_hash=hash_password("x"),
        )
        session.add(user)
        session.commit()
        return user


def request_as(user):
    token = issue_token(user, KEY)["access_token"]
    return EnvironBuilder(path="/api/v1/contacts", headers={"Authorization": f"Bearer {token}"}).get_request()


def authenticator(database, callers):
    return Authenticator(KEY, {}, database[0], callers)


def test_a_second_request_within_the_time_reads_no_row(database, user):
    callers, queries = CallerCache(5), database[1]
    before = len(queries)
    first = authenticator(database, callers).require(request_as(user))
    read = len(queries)
    again = authenticator(database, callers).require(request_as(user), "admin")
    assert read > before and len(queries) == read
    assert again == first and again.role == "admin"


def test_without_a_cache_time_every_request_reads_the_row(database, user):
    callers, queries = CallerCache(0), database[1]
    before = len(queries)
    authenticator(database, callers).require(request_as(user))
    read = len(queries) - before
    authenticator(database, callers).require(request_as(user))
    assert read > 0 and len(queries) == before + 2 * read


def test_a_logout_committed_here_revokes_the_cached_token_at_once(database, user):
    callers, request = CallerCache(60), request_as(user)
    authenticator(database, callers).require(request)
    with database[0]() as session:
        session.get(User, user.id).token_generation += 1
        session.commit()
    with pytest.raises(Unauthorized, match="revoked"):
        authenticator(database, callers).require(request)


def test_a_change_of_role_committed_here_applies_to_the_next_request(database, user):
    callers, request = CallerCache(60), request_as(user)
    authenticator(database, callers).require(request, "admin")
    with database[0]() as session:
        session.get(User, user.id).role = "agent"
        session.commit()
    with pytest.raises(Forbidden, match="agent role"):
        authenticator(database, callers).require(request, "admin")


def test_a_department_added_here_is_in_a_cached_managers_scope_on_the_next_request(database, user):
    callers = CallerCache(60)
    with database[0]() as session:
        session.get(User, user.id).role = "manager"
        session.commit()
    request = request_as(user)
    assert authenticator(database, callers).require(request).departments == (user.department_id,)
    with database[0]() as session:
        below = Department(name="Sales East", parent_id=user.department_id, working_hours={})
        session.add(below)
        session.commit()
    assert set(authenticator(database, callers).require(request).departments) == {user.department_id, below.id}


def test_a_change_rolled_back_keeps_the_cache(database, user):
    callers, queries = CallerCache(60), database[1]
    authenticator(database, callers).require(request_as(user))
    with database[0]() as session:
        session.get(User, user.id).role = "agent"
        session.flush()
        session.rollback()
    read = len(queries)
    assert authenticator(database, callers).require(request_as(user), "admin").role == "admin"
    assert len(queries) == read


def test_an_entry_expires_after_its_time_and_holds_only_for_its_generation():
    callers, scope = CallerCache(5), Scope("u1", "agent", "d1", ("d1",))
    callers.put("u1", 3, scope, callers.epoch, now=100.0)
    assert callers.get("u1", 3, now=104.9) == scope
    assert callers.get("u1", 3, now=105.0) is None
    assert callers.get("u1", 2, now=101.0) is None
    assert callers.get("u1", 4, now=101.0) is None


def test_a_row_read_before_identity_changed_is_not_kept():
    callers, scope = CallerCache(5), Scope("u1", "agent", "d1", ("d1",))
    epoch = callers.epoch  # a request starts reading the row ...
    callers.forget_all()  # ... and a logout commits meanwhile
    callers.put("u1", 0, scope, epoch, now=100.0)
    assert callers.get("u1", 0, now=100.0) is None
