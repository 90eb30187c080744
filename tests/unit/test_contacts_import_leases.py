"""A running import holds a lease, renewed with every batch: an import whose process was killed is
marked failed once its lease passes (and can then be undone), while a live one, on this replica or
another, is never touched."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts import importer, imports
from contacts.models import Base, Contact, ContactImport, OutboxEvent
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, ServiceUnavailable
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.scope import Scope

LATER = timedelta(seconds=1)


@pytest.fixture
def engine(memory_engine):
    return memory_engine(Base)


def run_import(engine, rows: int, batch: int = 100) -> dict:
    body = "first_name,email\n" + "".join(f"P{n},p{n}@example.com\n" for n in range(rows))
    with Session(engine, expire_on_commit=False) as session:
        outbox = OutboxRecorder(OutboxEvent, {"actor": "u1", "request_id": "r1"})
        return importer.import_csv(
            session,
            io.BytesIO(body.encode()),
            outbox=outbox,
            definitions={},
            defaults={},
            batch=batch,
            scope=Scope.system(),
        )


def sweep(engine, now) -> int:
    with Session(engine) as session:
        return imports.expire_interrupted(session, now=now)


def the_import(engine) -> ContactImport:
    with Session(engine) as session:
        return session.scalars(select(ContactImport)).one()


def undo(engine, import_id: str) -> dict:
    with Session(engine, expire_on_commit=False) as session:
        return imports.undo(session, Scope.system(), import_id, outbox=OutboxRecorder(OutboxEvent, {"actor": "u1"}))


def killed_after_its_last_batch(monkeypatch) -> None:
    """The process dies after the last batch committed, before the import is recorded as finished."""
    monkeypatch.setattr(importer, "finish_import", lambda *args, **kwargs: None)


def test_a_killed_import_stays_running_until_its_lease_passes_then_fails_and_can_be_undone(engine, monkeypatch):
    killed_after_its_last_batch(monkeypatch)
    report = run_import(engine, 250)
    lease_until = the_import(engine).lease_until

    assert sweep(engine, now=utcnow()) == 0  # its lease holds: it may be running on another replica
    with pytest.raises(Conflict, match="still running"):
        undo(engine, report["import_id"])
    assert sweep(engine, now=lease_until + LATER) == 1
    interrupted = the_import(engine)
    assert (interrupted.status, interrupted.problem) == ("failed", imports.INTERRUPTED)
    assert interrupted.report["created"] == 250  # what it committed is recorded
    assert sweep(engine, now=lease_until + LATER) == 0  # a second replica sweeping finds nothing more
    undone = undo(engine, report["import_id"])
    assert (undone["status"], undone["undo_report"]["deleted"]) == ("undone", 250)


def test_undo_takes_a_running_import_whose_lease_passed_as_interrupted(engine, monkeypatch):
    killed_after_its_last_batch(monkeypatch)
    report = run_import(engine, 10)
    with Session(engine) as session:  # the lease it took was the default one; it passed long ago
        session.get(ContactImport, report["import_id"]).lease_until = utcnow() - LATER
        session.commit()

    undone = undo(engine, report["import_id"])

    assert undone["status"] == "undone" and undone["problem"] == imports.INTERRUPTED
    assert [c.deleted_at is not None for c in Session(engine).scalars(select(Contact))] == [True] * 10


def test_every_batch_renews_the_lease(engine, monkeypatch):
    leases, apply_batch = [], importer.apply_batch

    def recording_the_lease(session, *args, **kwargs):
        apply_batch(session, *args, **kwargs)
        leases.append(session.scalar(select(ContactImport.lease_until)))

    monkeypatch.setattr(importer, "apply_batch", recording_the_lease)

    run_import(engine, 300)

    assert len(leases) == 3 and leases == sorted(leases) and leases[0] < leases[-1]
    assert the_import(engine).status == "completed"


def test_an_import_taken_as_interrupted_writes_no_further_batch(engine, monkeypatch):
    batches, apply_batch = [], importer.apply_batch

    def swept_before_the_second_batch(session, *args, **kwargs):
        batches.append(True)
        if len(batches) == 2:  # another replica's sweep, with a clock past the lease
            sweep(engine, now=session.scalar(select(ContactImport.lease_until)) + LATER)
        apply_batch(session, *args, **kwargs)

    monkeypatch.setattr(importer, "apply_batch", swept_before_the_second_batch)

    with pytest.raises(ServiceUnavailable, match="interrupted"):
        run_import(engine, 300)

    assert len(Session(engine).scalars(select(Contact)).all()) == 100  # the first batch only
    stopped = the_import(engine)
    assert (stopped.status, stopped.problem, stopped.report["created"]) == ("failed", imports.INTERRUPTED, 100)


def test_an_import_recorded_before_leases_counts_from_its_creation(engine):
    with Session(engine) as session:
        session.add(ContactImport(mode="upsert", match_by="email", status="running", report={}))
        session.commit()
    created_at = the_import(engine).created_at

    assert sweep(engine, now=created_at + LATER) == 0
    assert sweep(engine, now=created_at + imports.lease() + LATER) == 1
    assert the_import(engine).status == "failed"
