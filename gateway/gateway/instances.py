"""Which gateway processes are alive: each beats a row of `gateway_instances` every second or so.

An idempotency record names the gateway process serving its request (`owner`). When that process
dies mid-request its record would answer every retry "409 in progress" until the record's lease
ends (`CRM_IDEMPOTENCY_LEASE_SECONDS`); a record whose owner has stopped beating is taken over at
once instead, on the routes whose service records the key in the write's own commit
(`gateway.middleware.GUARDED_WRITES`). See docs/decisions.md, "the lease ends with its owner".
"""

import logging
import uuid
from datetime import datetime, timedelta

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from crm_kernel.config import database_url, env
from crm_kernel.db import close_safely, get_engine, utcnow
from gateway.models import GatewayInstance

log = logging.getLogger(__name__)
INSTANCE_ID = uuid.uuid4().hex  # this process: a restarted gateway is another instance
FORGOTTEN_AFTER = timedelta(hours=1)  # rows of instances silent this long are purged


def heartbeat_interval() -> float:
    return float(env("CRM_GATEWAY_HEARTBEAT_SECONDS", "1"))


def heartbeat_stale() -> timedelta:
    """How long an instance may stay silent before it counts as dead (several missed beats, so a busy
    process that is late by a beat or two is not taken for dead)."""
    return timedelta(seconds=float(env("CRM_GATEWAY_HEARTBEAT_STALE_SECONDS", "3")))


def beat(session: Session, instance: str, now: datetime) -> None:
    """Record that `instance` is alive as of `now`."""
    beaten = session.execute(update(GatewayInstance).where(GatewayInstance.id == instance).values(heartbeat_at=now))
    if not beaten.rowcount:
        session.add(GatewayInstance(id=instance, heartbeat_at=now))
    session.commit()


def is_gone(session: Session, instance: str | None, now: datetime) -> bool:
    """True when `instance` is known to be dead: it has not beaten within `heartbeat_stale()` (or has
    no row: it ended, or was purged). An unknown owner (None, a record from before owners) is not."""
    if instance is None:
        return False
    row = session.get(GatewayInstance, instance)
    return row is None or row.heartbeat_at <= now - heartbeat_stale()


def leave(session: Session, instance: str) -> None:
    """`instance` stops: its row goes (nothing of it is in flight any more)."""
    session.execute(delete(GatewayInstance).where(GatewayInstance.id == instance))
    session.commit()


def forget(session: Session, now: datetime) -> int:
    """Delete the rows of instances silent for `FORGOTTEN_AFTER`; the number deleted."""
    return session.execute(delete(GatewayInstance).where(GatewayInstance.heartbeat_at < now - FORGOTTEN_AFTER)).rowcount


class Heartbeat(DependencyProvider):
    """Beats this process's row while the gateway runs; deletes it when the gateway stops cleanly (by
    then no request is in flight). A database that cannot be reached is retried at the next beat."""

    def __init__(self, instance: str = INSTANCE_ID):
        self.instance = instance

    def setup(self):
        self.sessions = sessionmaker(get_engine(database_url("gateway")))
        self.running = False

    def start(self):
        self.running = True
        self.container.spawn_managed_thread(self._beat_forever, identifier="gateway_heartbeat")

    def stop(self):
        self.running = False
        self._session_do(lambda session: leave(session, self.instance))

    def kill(self):
        self.running = False

    def get_dependency(self, worker_ctx):
        return self.instance

    def _beat_forever(self):
        while self.running:
            self._session_do(lambda session: beat(session, self.instance, utcnow()))
            eventlet.sleep(heartbeat_interval())

    def _session_do(self, work) -> None:
        session = self.sessions()
        try:
            work(session)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("gateway heartbeat not recorded: %s", type(exc).__name__)
        finally:
            close_safely(session)
