"""Rate limits and login throttling, as plain arithmetic."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool
from werkzeug.test import EnvironBuilder

from crm_kernel.secrets import WeakSecret
from gateway import throttle
from gateway.auth import secret_key
from gateway.callers import client_address, login_keys
from gateway.middleware import TokenBuckets
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
    key = "pair:ada@example.com"
    for _ in range(4):
        throttle.record_failure(session, key, NOW)
    assert throttle.seconds_locked(session, [key], NOW) == 0
    throttle.record_failure(session, key, NOW)
    assert throttle.seconds_locked(session, [key], NOW) == 31
    assert throttle.seconds_locked(session, [key], NOW + timedelta(seconds=31)) == 0


def test_failures_older_than_the_window_are_forgotten(session):
    key = "pair:ada@example.com"
    for _ in range(4):
        throttle.record_failure(session, key, NOW)
    throttle.record_failure(session, key, NOW + timedelta(minutes=16))
    assert throttle.seconds_locked(session, [key], NOW + timedelta(minutes=16)) == 0


def test_a_successful_login_clears_the_account(session):
    key = "pair:ada@example.com"
    for _ in range(5):
        throttle.record_failure(session, key, NOW)
    throttle.clear(session, key)
    session.commit()
    assert throttle.seconds_locked(session, [key], NOW) == 0


def test_purging_forgets_ended_throttles_and_keeps_running_locks(session):
    for _ in range(5):
        throttle.record_failure(session, "pair:locked", NOW)
    throttle.record_failure(session, "pair:old", NOW - timedelta(hours=1))
    throttle.record_failure(session, "pair:recent", NOW)
    session.commit()
    assert throttle.purge(session, NOW + timedelta(minutes=16)) == 3  # every window has passed and no lock runs
    for _ in range(50):
        throttle.record_failure(session, "pair:long", NOW)
    session.commit()
    assert throttle.purge(session, NOW + timedelta(minutes=14)) == 0  # its window and lock still run


def peer(address: str, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": address}).get_request()


def test_without_trusted_proxies_forwarded_for_is_ignored(monkeypatch):
    monkeypatch.delenv("CRM_TRUSTED_PROXIES", raising=False)
    assert client_address(peer("198.51.100.9", "1.2.3.4")) == "198.51.100.9"


def test_a_trusted_proxy_names_the_client_and_a_forged_hop_left_of_it_counts_for_nothing(monkeypatch):
    monkeypatch.setenv("CRM_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert client_address(peer("10.1.2.3", "203.0.113.5")) == "203.0.113.5"
    assert client_address(peer("10.1.2.3", "6.6.6.6, 203.0.113.5, 192.0.2.1")) == "203.0.113.5"
    assert client_address(peer("10.1.2.3", "not-an-address")) == "10.1.2.3"
    assert client_address(peer("198.51.100.9", "203.0.113.5")) == "198.51.100.9"  # not a proxy we trust


def test_login_failures_count_per_account_and_address_pair_and_never_hold_the_email():
    pair, address = login_keys("ada@example.com", "203.0.113.5")
    assert pair != login_keys("ada@example.com", "198.51.100.9")[0]  # another place, another count
    assert address == "address:203.0.113.5" and "ada" not in pair


def test_an_attacker_cannot_lock_a_real_user_out_from_elsewhere(session):
    attacker = login_keys("ada@example.com", "6.6.6.6")
    for _ in range(10):
        for key in attacker:
            throttle.record_failure(session, key, NOW)
    assert throttle.seconds_locked(session, attacker, NOW) > 0
    assert throttle.seconds_locked(session, login_keys("ada@example.com", "203.0.113.5"), NOW) == 0


@pytest.mark.parametrize(
    "value",
    ["dev-only-token-signing-key", "REPLACE-with-openssl-rand-hex-32", "change-me-token-signing-key", "x" * 31],
)
def test_outside_development_a_placeholder_or_short_key_stops_the_gateway(monkeypatch, value):
    monkeypatch.setenv("CRM_ENVIRONMENT", "production")
    monkeypatch.setenv("CRM_SECRET_KEY", value)
    with pytest.raises(WeakSecret, match="CRM_SECRET_KEY"):
        secret_key()


def test_outside_development_a_missing_key_stops_the_gateway(monkeypatch):
    monkeypatch.setenv("CRM_ENVIRONMENT", "production")
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    with pytest.raises(WeakSecret, match="not set"):
        secret_key()


def test_a_strong_key_is_taken_and_development_takes_any(monkeypatch):
    monkeypatch.setenv("CRM_ENVIRONMENT", "production")
    monkeypatch.setenv("CRM_SECRET_KEY", "k" * 32)
    assert secret_key() == "k" * 32
    monkeypatch.setenv("CRM_ENVIRONMENT", "development")
    monkeypatch.setenv("CRM_SECRET_KEY", "dev-only-token-signing-key")
    assert secret_key() == "dev-only-token-signing-key"
