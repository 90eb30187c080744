"""Changing a user to an e-mail another user has is a 409 naming the field, and changes nothing, on
both engines (a generated `PATCH /users/{id}` found it a 500: the flush met the unique key first)."""

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from crm_kernel.errors import Conflict
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import OutboxRecorder
from gateway.identity import apply_changes, check_email_free
from gateway.models import OutboxEvent, User
from gateway.schemas import UserSchema


@pytest.fixture
def session(database_url):
    upgrade("gateway", database_url)
    engine = create_engine(database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def ada_and_grace(session):
    users = [User(email=f"{name}@example.com", name=name, role="agent", password_hash="x") for name in ("ada", "grace")]
    session.add_all(users)
    session.commit()
    return users


def test_a_user_changed_to_a_taken_email_is_a_conflict_naming_the_field(session, ada_and_grace):
    ada, grace = ada_and_grace
    with pytest.raises(Conflict) as refused:
        check_email_free(session, grace.email, ada.id)
    assert refused.value.errors == {"email": ["already taken"]}
    check_email_free(session, ada.email, ada.id)  # a user keeps their own e-mail
    check_email_free(session, "someone.new@example.com", ada.id)


def test_a_unique_key_met_by_the_flush_is_a_conflict_that_changes_nothing(session, ada_and_grace):
    ada, grace = ada_and_grace
    ada_id, version, events = ada.id, ada.version, session.scalar(select(func.count()).select_from(OutboxEvent))
    outbox = OutboxRecorder(OutboxEvent, {})
    with pytest.raises(Conflict):  # as when a second request takes the e-mail between check and write
        apply_changes(session, outbox, ada, {"email": grace.email}, UserSchema(), "user")
    session.expire_all()
    stored = session.get(User, ada_id)
    assert (stored.email, stored.version) == ("ada@example.com", version)
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == events
