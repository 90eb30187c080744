"""Imports as records: listed with their reports, read one by one, undone as a whole, and the lease
that tells a running import from one whose process is gone."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from contacts import companies
from contacts.models import Contact, ContactImport, ContactImportChange
from contacts.schemas import ContactSchema
from crm_kernel import records
from crm_kernel.config import env
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, ServiceUnavailable
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import PageQuerySchema, load
from crm_kernel.scope import Scope, visible

UNDO_BATCH = 1000
LISTED = 1000  # contacts that could not be undone, listed in full; beyond that only counted
IMPORT_SORTS = ("created_at",)
UNDO_RETRY_AFTER = 10  # seconds at most that a 409 "being undone" asks the client to wait
INTERRUPTED = "interrupted: the process running it stopped (its lease passed); what it committed stays, undo it"


UNDO_INTERRUPTED = "interrupted: the process undoing it stopped (its lease passed); undo it again to finish"


class UndoLeaseLost(ServiceUnavailable):
    """Another request took over this undo (its lease had passed): this one writes no more."""


def lease() -> timedelta:
    """How long a running import's claim lasts without a batch committed (`CRM_IMPORT_LEASE_SECONDS`).

    Longer than any pause between two batches (reading 4,000 rows of a slow upload, one batch's writes),
    so a live import never loses it; short enough that a killed one is soon undoable."""
    return timedelta(seconds=int(env("CRM_IMPORT_LEASE_SECONDS", "600")))


def renew_lease(session, import_id: str, report: dict) -> bool:
    """Record the import's progress and extend its lease, in the caller's transaction; False when the
    import is no longer running (a sweep took it as interrupted): then nothing more may be written."""
    renewed = session.execute(
        update(ContactImport)
        .where(ContactImport.id == import_id, ContactImport.status == "running")
        .values(report=report, lease_until=utcnow() + lease())
    ).rowcount
    return renewed == 1


def expire_interrupted(session, now: datetime | None = None) -> int:
    """Mark failed every running import whose lease has passed (or, recorded before leases, whose
    creation is a lease ago); how many. One conditional UPDATE: safe with any number of replicas
    sweeping at once, and an import that renews its lease in time is never touched."""
    now = now or utcnow()
    expired = session.execute(
        update(ContactImport)
        .where(
            ContactImport.status == "running",
            or_(
                ContactImport.lease_until < now,
                ContactImport.lease_until.is_(None) & (ContactImport.created_at < now - lease()),
            ),
        )
        .values(status="failed", problem=INTERRUPTED, finished_at=func.coalesce(ContactImport.finished_at, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return expired


def visible_import(session, import_id: str, scope: Scope | None) -> ContactImport:
    """The import, when the caller may see it (who ran it, their managers, admins); else 404."""
    return records.visible_or_404(session, ContactImport, import_id, scope, noun="import", owners=("actor",))


def get(session, scope: Scope | None, import_id: str) -> dict:
    return describe(visible_import(session, import_id, scope))


def listed(session, scope: Scope | None, query: dict) -> dict:
    """The imports the caller may see (theirs; their departments' for a manager), newest first."""
    params = load(PageQuerySchema(), {k: v for k, v in query.items() if k in ("limit", "cursor")})
    stmt = visible(select(ContactImport), ContactImport, scope, owners=("actor",))
    rows, next_cursor = keyset_page(
        session,
        stmt,
        ContactImport,
        limit=params["limit"],
        cursor=params["cursor"],
        sort="-created_at",
        sortable=IMPORT_SORTS,
    )
    return {"items": [describe(row, summary=True) for row in rows], "next_cursor": next_cursor}


def describe(record: ContactImport, summary: bool = False) -> dict:
    """The import as the API shows it; in a list (`summary`) its report's counts without the row lists."""
    report = record.report
    if summary:
        report = {key: value for key, value in report.items() if not isinstance(value, list)}
    return {
        "id": record.id,
        "actor": record.actor,
        "department_id": record.department_id,
        "mode": record.mode,
        "match_by": record.match_by,
        "status": record.status,
        "problem": record.problem,
        "report": report,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "undone_at": record.undone_at.isoformat() if record.undone_at else None,
        "undo_report": undo_report(record),
    }


def undo_report(record: ContactImport) -> dict | None:
    """The undo's report as the API shows it: while it runs, its counts so far; when its process died
    (it is `undoing` and its lease has passed), a `problem` that says so, until an undo resumes it."""
    if not record.undo_report:
        return record.undo_report
    shown = {key: value for key, value in record.undo_report.items() if key != "after"}
    if record.status == "undoing" and (record.lease_until is None or record.lease_until < utcnow()):
        shown["problem"] = UNDO_INTERRUPTED
    return shown


def undo(session, scope: Scope | None, import_id: str, *, outbox) -> dict:
    """Undo what the import did to contacts nobody has changed since: the contacts it created are deleted
    (softly, as `DELETE /contacts/{id}`), the fields it changed get their earlier values back. A contact
    changed, merged or deleted since is left as it is and listed with the reason. Commits a batch at a
    time, with the events that announce each change (`import_id` and `undo: true` in each) and how far it
    got, under a lease (see `claim_undo`): an undo whose process died is resumed by the next request
    once its lease has passed, from the batch where it stopped."""
    record = visible_import(session, import_id, scope)
    if scope is not None and scope.role == "agent" and record.actor != scope.user_id:
        raise NotFound(f"import {import_id} not found")  # an agent undoes their own imports only
    if record.status == "running" and expire_interrupted(session):
        session.refresh(record)
    if record.status == "running":
        raise Conflict(f"import {import_id} is still running; undo it when it has finished")
    if record.undone_at is not None:
        raise Conflict(f"import {import_id} was undone already, at {record.undone_at.isoformat()}")
    claim = claim_undo(session, record)
    try:
        return describe(revert(session, record, outbox, scope, claim=claim))
    except BaseException:
        session.rollback()
        release_undo(session, record.id, claim)  # the batches undone stay undone; a retry resumes at once
        raise


@dataclass
class UndoLease:
    """An undo's claim on its import: until when; renewed with each batch it commits."""

    until: datetime


def claim_undo(session, record: ContactImport) -> UndoLease:
    """Take the undo of `record` for this request, for a lease (`lease()`).

    One conditional UPDATE: of two requests only one gets it; the other, like any request while the
    lease holds, gets a 409 with `Retry-After`. An undo whose lease has passed (its process died) is
    taken over, and resumes where its last committed batch left it."""
    now = utcnow()
    claim = (
        update(ContactImport)
        .where(ContactImport.id == record.id, ContactImport.undone_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    if record.status == "undoing":  # its lease has passed
        claim = claim.where(
            ContactImport.status == "undoing",
            or_(ContactImport.lease_until.is_(None), ContactImport.lease_until < now),
        )
    else:
        claim = claim.where(ContactImport.status == record.status)
    progress = record.undo_report if unfinished(record.undo_report) else new_undo_report()
    until = now + lease()
    claimed = session.execute(claim.values(status="undoing", lease_until=until, undo_report=progress)).rowcount
    session.commit()
    if claimed != 1:
        session.refresh(record)
        if record.undone_at is not None:
            raise Conflict(f"import {record.id} was undone already, at {record.undone_at.isoformat()}")
        raise undo_in_progress(record.id, (record.lease_until or now) - now)
    session.refresh(record)
    return UndoLease(until)


def undo_in_progress(import_id: str, remaining: timedelta) -> Conflict:
    """The 409 of an undo that another request is running: retry after a while (at most `UNDO_RETRY_AFTER`
    seconds, so a client that retries sees it finish soon after it does)."""
    conflict = Conflict(f"import {import_id} is being undone; retry to see it finished, or to resume it")
    conflict.retry_after = max(1, min(UNDO_RETRY_AFTER, math.ceil(remaining.total_seconds())))
    return conflict


def release_undo(session, import_id: str, claim: UndoLease) -> None:
    """Give up this request's lease on an undo that stopped (best effort: the database may be what
    failed); then the next request resumes it at once rather than after the lease."""
    try:
        session.execute(
            update(ContactImport)
            .where(ContactImport.id == import_id, ContactImport.lease_until == claim.until)
            .values(lease_until=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except Exception:
        session.rollback()


def new_undo_report() -> dict:
    """An undo's report as it starts; `after` is the last contact id its committed batches went through."""
    return {"deleted": 0, "restored": 0, "not_undone": [], "not_undone_count": 0, "after": ""}


def unfinished(undo_report: dict | None) -> bool:
    return bool(undo_report) and "after" in undo_report


def revert(session, record: ContactImport, outbox, scope: Scope | None = None, claim: UndoLease | None = None):
    """Undo the changes of `record` (see `undo`), whatever its status; it is then `undone`. Only contacts
    `scope` may see are touched: the others are listed as not undone. With `claim` (the lease `claim_undo`
    took), each batch commits only while the lease is still this one's, and renews it.

    Each batch commits with the undo's report so far and the last contact id it went through, so an
    undo that stops part way resumes after it: nothing is undone twice, nothing counted twice."""
    result = record.undo_report if unfinished(record.undo_report) else new_undo_report()
    result = {**result, "not_undone": list(result["not_undone"])}
    schema = ContactSchema()
    while True:
        changes = session.scalars(
            select(ContactImportChange)
            .where(ContactImportChange.import_id == record.id, ContactImportChange.contact_id > result["after"])
            .order_by(ContactImportChange.contact_id)
            .limit(UNDO_BATCH)
        ).all()
        if not changes:
            break
        wanted = select(Contact).where(Contact.id.in_([ch.contact_id for ch in changes]))
        if session.get_bind().dialect.name == "postgresql":
            wanted = wanted.with_for_update(of=Contact)  # no edit slips between the check and the change
        contacts = {c.id: c for c in session.scalars(visible(wanted, Contact, scope))}
        deleted, restored, now = [], [], utcnow()
        for change in changes:
            contact = contacts.get(change.contact_id)
            reason = _why_not(contact, change)
            if reason:
                result["not_undone_count"] += 1
                if len(result["not_undone"]) < LISTED:
                    result["not_undone"].append({"id": change.contact_id, "reason": reason})
            elif change.before is None:
                contact.deleted_at = now
                deleted.append(contact)
            else:
                restored.append((contact, _restore(session, contact, change.before, schema)))
        session.flush()  # one round of UPDATEs for the batch, each still checked against its version
        for contact in deleted:
            outbox.add(session, "contact.deleted", schema.dump(contact), import_id=record.id, undo=True)
        for contact, changed in restored:
            outbox.add(
                session, "contact.updated", schema.dump(contact), changes=changed, import_id=record.id, undo=True
            )
        result["deleted"] += len(deleted)
        result["restored"] += len(restored)
        result["after"] = changes[-1].contact_id
        _record_undo_progress(session, record.id, result, claim)
        session.commit()
    finished = {key: value for key, value in result.items() if key != "after"}
    _record_undo_progress(session, record.id, finished, claim, status="undone", undone_at=utcnow())
    session.commit()
    session.expire_all()
    return session.get(ContactImport, record.id)


def _record_undo_progress(session, import_id: str, report: dict, claim: UndoLease | None, **values) -> None:
    """Write the undo's report so far in the batch's transaction; with a `claim`, only while the lease is
    still that one (and renew it), else the batch is rolled back and `UndoLeaseLost` raised."""
    stmt = update(ContactImport).where(ContactImport.id == import_id).execution_options(synchronize_session=False)
    if claim is None:
        session.execute(stmt.values(undo_report=report, **values))
        return
    until = utcnow() + lease()
    renewed = session.execute(
        stmt.where(ContactImport.lease_until == claim.until).values(undo_report=report, lease_until=until, **values)
    ).rowcount
    if renewed != 1:
        session.rollback()
        raise UndoLeaseLost(f"the undo of import {import_id} was taken over by another request (its lease passed)")
    claim.until = until


def _why_not(contact: Contact | None, change: ContactImportChange) -> str | None:
    if contact is None:
        return "not found, or not yours to change"
    if contact.merged_into:
        return f"merged into {contact.merged_into} since the import"
    if contact.deleted_at is not None:
        return "deleted since the import"
    if contact.version != change.version_after:
        return f"changed since the import (version {contact.version}, the import left {change.version_after})"
    return None


def _restore(session, contact: Contact, before: dict, schema: ContactSchema) -> dict:
    """Give `contact` back the values of `before`; the changes as `{field: [now, restored]}`."""
    dumped = schema.dump(contact)
    for name, value in before.items():
        setattr(contact, name, value)
    after = schema.dump(contact)
    contact.refresh_search_text(companies.live_name(session, contact.company_id))
    contact.updated_at = utcnow()
    return records.changes(dumped, after, before)
