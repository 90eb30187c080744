"""Gateway processes say they are alive: a heartbeat row per process, fresh while it runs, gone when it
stops cleanly, and stale (so its unfinished idempotency records can be taken over) when it died."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from gateway import instances
from gateway.instances import Heartbeat, beat, forget, is_gone
from gateway.models import Base, GatewayInstance


@pytest.fixture
def session(memory_engine):
    with Session(memory_engine(Base)) as session:
        yield session


def test_an_instance_that_beat_just_now_is_alive_and_one_silent_for_longer_than_the_staleness_is_gone(session):
    now = utcnow()
    beat(session, "quiet", now - timedelta(seconds=10))
    beat(session, "busy", now - timedelta(seconds=10))
    beat(session, "busy", now - timedelta(seconds=1))  # a second beat refreshes the row
    assert not is_gone(session, "busy", now)
    assert is_gone(session, "quiet", now)
    assert is_gone(session, "never-seen", now)  # ended cleanly (its row deleted), or purged
    assert not is_gone(session, None, now)  # a record from before owners: only its lease ends it


def test_instances_silent_for_an_hour_are_forgotten(session):
    now = utcnow()
    beat(session, "old", now - timedelta(hours=2))
    beat(session, "recent", now - timedelta(seconds=30))
    assert forget(session, now) == 1
    session.commit()
    assert [row.id for row in session.query(GatewayInstance)] == ["recent"]


class OneBeat:
    """What the heartbeat's loop sleeps on: ends the loop after its first beat."""

    def __init__(self, heartbeat):
        self.heartbeat = heartbeat

    def sleep(self, seconds):
        self.heartbeat.running = False


def rows(url: str) -> list[str]:
    with Session(create_engine(url)) as session:
        return [row.id for row in session.query(GatewayInstance)]


def test_the_heartbeat_beats_while_the_gateway_runs_and_leaves_when_it_stops(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    Base.metadata.create_all(create_engine(url))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    threads = []
    heartbeat = Heartbeat("gw-1")
    heartbeat.container = SimpleNamespace(spawn_managed_thread=lambda run, identifier: threads.append(run))
    monkeypatch.setattr(instances, "eventlet", OneBeat(heartbeat))
    heartbeat.setup()
    heartbeat.start()
    threads[0]()  # the loop, one round
    assert rows(url) == ["gw-1"]
    heartbeat.stop()
    assert rows(url) == []


def test_a_heartbeat_that_cannot_reach_the_database_keeps_the_gateway_running(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-dir' / 'gateway.db'}")
    heartbeat = Heartbeat("gw-2")
    heartbeat.container = SimpleNamespace(spawn_managed_thread=lambda run, identifier: run())
    monkeypatch.setattr(instances, "eventlet", OneBeat(heartbeat))
    heartbeat.setup()
    heartbeat.start()  # a beat fails: logged, and the loop goes on (here: its one round ends)
    heartbeat.stop()
    assert caplog.text.count("gateway heartbeat not recorded") == 2  # the beat, and leaving
