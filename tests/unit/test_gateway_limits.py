"""Rate limits and login throttling, as plain arithmetic."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from gateway import throttle
from gateway.http import TokenBuckets
from gateway.models import Base

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_caller_may_burst_then_waits_for_the_bucket_to_refill():
    buckets = TokenBuckets(rate_per_minute=60, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a", now=0.0) == pytest.approx(1.0)
    assert buckets.take("a", now=1.0) == 0  # one token back after a second at 60/min


def test_callers_have_buckets_of_their_own():
    buckets = TokenBuckets(rate_per_minute=60, burst=1)
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("b", now=0.0) == 0
    assert buckets.take("a", now=0.0) > 0


def test_the_lock_starts_at_the_limit_and_doubles_up_to_fifteen_minutes():
    assert throttle.lock_duration(4, 5) == timedelta(0)
    assert throttle.lock_duration(5, 5) == timedelta(seconds=30)
    assert throttle.lock_duration(6, 5) == timedelta(seconds=60)
    assert throttle.lock_duration(50, 5) == timedelta(minutes=15)


@pytest.fixture
def session():
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def test_an_account_is_locked_after_five_failures_and_free_once_the_lock_passes(session):
    key = "account:ada@example.com"
    for _ in range(4):
        throttle.record_failure(session, key, NOW)
    assert throttle.seconds_locked(session, [key], NOW) == 0
    throttle.record_failure(session, key, NOW)
    assert throttle.seconds_locked(session, [key], NOW) == 31
    assert throttle.seconds_locked(session, [key], NOW + timedelta(seconds=31)) == 0


def test_failures_older_than_the_window_are_forgotten(session):
    key = "account:ada@example.com"
    for _ in range(4):
        throttle.record_failure(session, key, NOW)
    throttle.record_failure(session, key, NOW + timedelta(minutes=16))
    assert throttle.seconds_locked(session, [key], NOW + timedelta(minutes=16)) == 0


def test_a_successful_login_clears_the_account(session):
    key = "account:ada@example.com"
    for _ in range(5):
        throttle.record_failure(session, key, NOW)
    throttle.clear(session, key)
    session.commit()
    assert throttle.seconds_locked(session, [key], NOW) == 0
