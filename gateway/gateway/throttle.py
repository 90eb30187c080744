"""Slowing down password guessing: failed logins per account and address pair, and per address, lock them
for a while."""

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from crm_kernel.config import env
from gateway.models import LoginThrottle

WINDOW = timedelta(minutes=15)
MAX_LOCK = timedelta(minutes=15)


def limits() -> dict[str, int]:
    """Failures allowed in a window before each kind of key is locked."""
    return {
        "pair": int(env("CRM_LOGIN_FAILURES_PER_ACCOUNT", "5")),  # one account from one address
        "address": int(env("CRM_LOGIN_FAILURES_PER_ADDRESS", "20")),
    }


def lock_duration(failures: int, allowed: int) -> timedelta:
    """Nothing up to `allowed` failures; then 30 s, doubling with each failure, at most 15 minutes."""
    if failures < allowed:
        return timedelta(0)
    return min(MAX_LOCK, timedelta(seconds=30) * 2 ** min(failures - allowed, 10))


def seconds_locked(session: Session, keys: list[str], now: datetime) -> int:
    """How long the caller must wait before trying again (0 when no key is locked)."""
    waits = [
        (row.locked_until - now).total_seconds()
        for row in (session.get(LoginThrottle, key) for key in keys)
        if row is not None and row.locked_until is not None and row.locked_until > now
    ]
    return int(max(waits, default=0)) + (1 if waits else 0)


def record_failure(session: Session, key: str, now: datetime) -> None:
    kind = key.split(":", 1)[0]
    row = session.get(LoginThrottle, key)
    if row is None or now - row.window_started_at > WINDOW:
        row = row or LoginThrottle(key=key)
        row.failures, row.window_started_at, row.locked_until = 0, now, None
        session.add(row)
    row.failures += 1
    wait = lock_duration(row.failures, limits()[kind])
    row.locked_until = now + wait if wait else None


def clear(session: Session, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)


def purge(session: Session, now: datetime) -> int:
    """Forget throttles whose window has passed and whose lock has ended; the number forgotten."""
    done = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at < now - WINDOW,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        )
    )
    return done.rowcount
