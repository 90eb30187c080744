"""An import's undo holds a lease, as the import does: one request runs it, a second is told to retry;
an undo whose process died is resumed by the next request once its lease has passed, from the batch
where it stopped, so nothing is undone twice and its report counts every change once."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contacts import importer, imports
from contacts.models import Base, Contact, ContactImport, OutboxEvent
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.scope import Scope

BATCH = 50  # contacts an undo batch goes through here (1,000 in the service)
PEOPLE = 120  # contacts the first import creates and the second updates
NEW = 80  # contacts the second import creates


class Died(BaseException):
    """The process stopping where it stands (as SIGKILL would: nothing after it runs)."""


@pytest.fixture
def engine(memory_engine, monkeypatch):
    monkeypatch.setattr(imports, "UNDO_BATCH", BATCH)
    return memory_engine(Base)


def run_import(engine, body: str) -> dict:
    with Session(engine, expire_on_commit=False) as session:
        return importer.import_csv(
            session,
            io.BytesIO(body.encode()),
            outbox=OutboxRecorder(OutboxEvent, {"actor": "u1"}),
            definitions={},
            defaults={},
            scope=Scope.system(),
        )


def undo(engine, import_id: str) -> dict:
    with Session(engine, expire_on_commit=False) as session:
        return imports.undo(session, Scope.system(), import_id, outbox=OutboxRecorder(OutboxEvent, {"actor": "u2"}))


def shown(engine, import_id: str) -> dict:
    with Session(engine) as session:
        return imports.get(session, Scope.system(), import_id)


def an_import_that_updates_and_creates(engine) -> dict:
    """PEOPLE contacts, then an import that renames and tags each of them and creates NEW more."""
    run_import(engine, "first_name,email\n" + "".join(f"P{n},p{n}@example.com\n" for n in range(PEOPLE)))
    updates = "".join(f"Renamed{n},p{n}@example.com,imported\n" for n in range(PEOPLE))
    creates = "".join(f"N{n},n{n}@example.com,imported\n" for n in range(NEW))
    report = run_import(engine, "first_name,email,tags\n" + updates + creates)
    assert (report["updated"], report["created"]) == (PEOPLE, NEW)
    return report


def dies_in_batch(monkeypatch, batch: int) -> None:
    """The undo's process dies while it goes through `batch` (1-based): the batches before it committed,
    and the lease it holds is never given back."""
    seen, why_not = [], imports._why_not

    def checking(contact, change):
        seen.append(change.contact_id)
        if len(seen) > (batch - 1) * BATCH:
            raise Died()
        return why_not(contact, change)

    monkeypatch.setattr(imports, "_why_not", checking)
    monkeypatch.setattr(imports, "release_undo", lambda *args: None)


def lease_passes(engine, import_id: str) -> None:
    with Session(engine) as session:
        past = utcnow() - timedelta(seconds=1)
        session.execute(update(ContactImport).where(ContactImport.id == import_id).values(lease_until=past))
        session.commit()


def contacts(engine) -> list[Contact]:
    with Session(engine) as session:
        return session.scalars(select(Contact)).all()


def undo_events(engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(e.type, e.entity_id) for e in session.scalars(select(OutboxEvent)) if e.payload.get("undo")]


def test_an_undo_whose_process_died_is_resumed_after_its_lease_and_undoes_each_change_once(engine, monkeypatch):
    report = an_import_that_updates_and_creates(engine)
    with monkeypatch.context() as dying, pytest.raises(Died):
        dies_in_batch(dying, 3)
        undo(engine, report["import_id"])

    stopped = shown(engine, report["import_id"])
    with pytest.raises(Conflict, match="being undone") as in_progress:
        undo(engine, report["import_id"])  # its lease holds: it may be running on another replica
    lease_passes(engine, report["import_id"])
    interrupted = shown(engine, report["import_id"])
    finished = undo(engine, report["import_id"])

    assert stopped["status"] == "undoing" and "problem" not in stopped["undo_report"]
    assert stopped["undo_report"]["deleted"] + stopped["undo_report"]["restored"] == 2 * BATCH
    assert 1 <= in_progress.value.retry_after <= imports.UNDO_RETRY_AFTER
    assert interrupted["undo_report"]["problem"] == imports.UNDO_INTERRUPTED
    assert finished["status"] == "undone"
    assert finished["undo_report"] == {"deleted": NEW, "restored": PEOPLE, "not_undone": [], "not_undone_count": 0}
    everyone = contacts(engine)
    assert sorted(c.first_name for c in everyone if c.deleted_at is None) == sorted(f"P{n}" for n in range(PEOPLE))
    assert all(c.tags == [] and c.version == 3 for c in everyone if c.deleted_at is None)  # restored once each
    events = undo_events(engine)
    assert len(events) == len(set(events)) == PEOPLE + NEW  # one event per contact undone, none twice
    with pytest.raises(Conflict, match="undone already"):
        undo(engine, report["import_id"])


def test_of_two_undos_of_one_import_one_runs_and_the_other_is_told_to_retry(engine):
    report = an_import_that_updates_and_creates(engine)
    with Session(engine, expire_on_commit=False) as first, Session(engine, expire_on_commit=False) as second:
        record = first.get(ContactImport, report["import_id"])
        seen_by_second = second.get(ContactImport, report["import_id"])  # read before the first claims it

        imports.claim_undo(first, record)
        with pytest.raises(Conflict, match="being undone") as lost_the_race:
            imports.claim_undo(second, seen_by_second)

    assert lost_the_race.value.retry_after == imports.UNDO_RETRY_AFTER  # the lease has 600 s to run
    assert all(c.deleted_at is None for c in contacts(engine))  # the claim alone changes no contact
    with pytest.raises(Conflict, match="being undone"):
        undo(engine, report["import_id"])


def test_an_undo_whose_lease_was_taken_over_writes_no_further_batch(engine, monkeypatch):
    report = an_import_that_updates_and_creates(engine)
    batches, taken_over, visible = [], [], imports.visible

    def taken_over_before_the_second_batch(stmt, *args):
        batches.append(stmt)
        if len(batches) == 2:  # the first batch committed; it pauses past its lease, and another takes over
            lease_passes(engine, report["import_id"])
            taken_over.append(undo(engine, report["import_id"]))
        return visible(stmt, *args)

    monkeypatch.setattr(imports, "visible", taken_over_before_the_second_batch)

    with pytest.raises(imports.UndoLeaseLost):
        undo(engine, report["import_id"])

    [finished] = taken_over
    assert finished["undo_report"]["deleted"] + finished["undo_report"]["restored"] == PEOPLE + NEW
    assert finished["undo_report"]["not_undone_count"] == 0
    assert shown(engine, report["import_id"])["undo_report"] == finished["undo_report"]
    events = undo_events(engine)
    assert len(events) == len(set(events)) == PEOPLE + NEW


def test_an_undo_that_fails_gives_its_lease_back_and_the_next_request_resumes_it_at_once(engine, monkeypatch):
    report = an_import_that_updates_and_creates(engine)
    calls, why_not = [], imports._why_not

    def database_gone_in_the_second_batch(contact, change):
        calls.append(change)
        if len(calls) > BATCH:
            raise ConnectionError("the database went away")
        return why_not(contact, change)

    monkeypatch.setattr(imports, "_why_not", database_gone_in_the_second_batch)
    with pytest.raises(ConnectionError):
        undo(engine, report["import_id"])
    monkeypatch.setattr(imports, "_why_not", why_not)

    stopped = shown(engine, report["import_id"])
    finished = undo(engine, report["import_id"])

    assert (stopped["status"], stopped["undo_report"]["problem"]) == ("undoing", imports.UNDO_INTERRUPTED)
    assert finished["undo_report"]["deleted"] + finished["undo_report"]["restored"] == PEOPLE + NEW
    assert finished["undo_report"]["not_undone_count"] == 0
