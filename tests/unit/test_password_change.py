"""A user changes their own password: the current one proves it is them, the new one follows the rules,
and every token of the old one ends."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from crm_kernel.errors import Forbidden, TooManyRequests, ValidationFailed
from crm_kernel.schemas import load
from gateway.auth import hash_password, password_matches
from gateway.models import Base, User
from gateway.password_api import PasswordChangeSchema, change_password, throttle_key, weaknesses

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OLD = "the-old-password-42"
NEW = "a-brand-new-passphrase"


@pytest.fixture
def session():
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def user(session):
    user = User(email="ada.lovelace@example.com", name="Ada", role="agent", password_hash=hash_password(OLD))
    session.add(user)
    session.commit()
    return user


def test_the_right_current_password_stores_the_new_one_and_revokes_every_token(session, user):
    generation = user.token_generation
    changes = change_password(session, user, OLD, NEW, NOW)
    session.commit()
    assert password_matches(user.password_hash, NEW)
    assert not password_matches(user.password_hash, OLD)
    assert user.token_generation == generation + 1
    assert changes == {"password": ["(secret)", "(secret)"]}


def test_a_wrong_current_password_is_forbidden_names_the_field_and_changes_nothing(session, user):
    before = (user.password_hash, user.token_generation)
    with pytest.raises(Forbidden) as refused:
        change_password(session, user, "not-my-password", NEW, NOW)
    assert "current_password" in refused.value.errors
    session.refresh(user)
    assert (user.password_hash, user.token_generation) == before


@pytest.mark.parametrize(
    ("new", "rule"),
    [
        ("short-one", "at least 12 characters"),
        (OLD, "must differ from the current password"),
        ("aaaaaaaaaaaaaaaa", "at least 4 different characters"),
        ("my-ada.lovelace-pass", "must not contain your e-mail address"),
        ("x" * 150 + "y" * 51 + "zw", "at most 200 characters"),
    ],
)
def test_a_weak_new_password_is_refused_naming_the_rule_and_nothing_changes(session, user, new, rule):
    before = user.password_hash
    with pytest.raises(ValidationFailed) as refused:
        change_password(session, user, OLD, new, NOW)
    assert any(rule in message for message in refused.value.errors["new_password"])
    assert rule in refused.value.detail
    assert user.password_hash == before


def test_a_good_new_password_breaks_no_rule(user):
    assert weaknesses(NEW, OLD, user) == []


def test_wrong_current_passwords_lock_the_change_for_a_while_even_for_the_right_one(session, user):
    for _ in range(5):
        with pytest.raises(Forbidden):
            change_password(session, user, "guess", NEW, NOW)
    with pytest.raises(TooManyRequests) as locked:
        change_password(session, user, OLD, NEW, NOW + timedelta(seconds=1))
    assert locked.value.retry_after >= 1
    assert password_matches(user.password_hash, OLD)
    change_password(session, user, OLD, NEW, NOW + timedelta(minutes=1))
    assert password_matches(user.password_hash, NEW)


def test_the_change_is_throttled_apart_from_the_users_sign_in(user):
    assert throttle_key(user.id).startswith("pair:")  # the login pair's limit applies
    assert user.email not in throttle_key(user.id)


def test_the_request_must_name_both_passwords_and_nothing_else():
    with pytest.raises(ValidationFailed) as refused:
        load(PasswordChangeSchema(), {"new_password": NEW, "password": OLD})
    assert {"current_password", "password"} <= set(refused.value.errors)
