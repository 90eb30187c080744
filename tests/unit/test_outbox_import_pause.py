"""While an import runs in a process, its outbox relay publishes the backlog slowly (the import keeps
the CPU; reporting applies every event it publishes); after the import, at full pace again."""

import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.importer import import_csv
from contacts.models import Base, Contact, OutboxEvent
from crm_kernel.outbox import Outbox, OutboxRecorder
from crm_kernel.scope import Scope


class Relay(Outbox):
    """The relay's pacing without a container: what `setup` reads from the environment, set here."""

    def __init__(self):
        super().__init__(OutboxEvent)
        self.bulk_interval, self.import_interval, self.importing, self.kicked = 0.25, 2.0, 0, 0

    def kick(self):
        self.kicked += 1


def test_a_full_batch_waits_the_import_interval_only_while_an_import_runs():
    relay = Relay()
    recorder = OutboxRecorder(OutboxEvent, {}, relay)
    assert relay._pause(relay.batch) == 0.25
    assert relay._pause(relay.batch - 1) == 0.0  # the backlog is drained: no wait
    with recorder.importing():
        assert relay._pause(relay.batch) == 2.0
        with OutboxRecorder(OutboxEvent, {}, relay).importing():  # two imports at once
            assert relay.importing == 2
        assert relay._pause(relay.batch) == 2.0  # the other still runs
    assert relay._pause(relay.batch) == 0.25
    assert relay.kicked == 2  # each import's end wakes the relay for its backlog


def test_an_import_that_fails_still_hands_the_pace_back():
    relay = Relay()
    with pytest.raises(RuntimeError), OutboxRecorder(OutboxEvent, {}, relay).importing():
        raise RuntimeError("the database went away")
    assert relay.importing == 0
    assert relay._pause(relay.batch) == 0.25


def test_the_contacts_import_runs_inside_the_slow_pace(memory_engine):
    engine = memory_engine(Base)
    relay = Relay()
    seen = []

    class Body(io.BytesIO):
        def read(self, *args):
            seen.append(relay.importing)  # the pace while the importer reads the file
            return super().read(*args)

    body = Body(b"first_name;last_name;email\nAda;Lovelace;ada@example.com\n")
    with Session(engine, expire_on_commit=False) as session:
        outbox = OutboxRecorder(OutboxEvent, {"actor": "u1"}, relay)
        report = import_csv(
            session, body, outbox=outbox, definitions={}, defaults={"owner_id": "u1"}, scope=Scope.system()
        )
        assert report["created"] == 1
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
    assert seen and set(seen) == {1}
    assert relay.importing == 0 and relay.kicked == 1
