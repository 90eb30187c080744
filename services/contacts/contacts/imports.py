"""Imports as records: listed with their reports, read one by one, undone as a whole, and the lease
that tells a running import from one whose process is gone."""

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from contacts import companies
from contacts.models import Contact, ContactImport, ContactImportChange
from contacts.schemas import ContactSchema
from crm_kernel import records
from crm_kernel.config import env
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import PageQuerySchema, load
from crm_kernel.scope import Scope, visible

UNDO_BATCH = 1000
LISTED = 1000  # contacts that could not be undone, listed in full; beyond that only counted
IMPORT_SORTS = ("created_at",)
INTERRUPTED = "interrupted: the process running it stopped (its lease passed); what it committed stays, undo it"


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
        "undo_report": record.undo_report,
    }


def undo(session, scope: Scope | None, import_id: str, *, outbox) -> dict:
    """Undo what the import did to contacts nobody has changed since: the contacts it created are deleted
    (softly, as `DELETE /contacts/{id}`), the fields it changed get their earlier values back. A contact
    changed, merged or deleted since is left as it is and listed with the reason. Commits a batch at a
    time, with the events that announce each change (`import_id` and `undo: true` in each)."""
    record = visible_import(session, import_id, scope)
    if scope is not None and scope.role == "agent" and record.actor != scope.user_id:
        raise NotFound(f"import {import_id} not found")  # an agent undoes their own imports only
    if record.status == "running" and expire_interrupted(session):
        session.refresh(record)
    if record.status == "running":
        raise Conflict(f"import {import_id} is still running; undo it when it has finished")
    if record.undone_at is not None or record.status == "undoing":
        raise Conflict(f"import {import_id} was undone already (or is being undone)")
    # Claimed at once, so that two undos of one import never run together.
    claimed = session.execute(
        update(ContactImport)
        .where(ContactImport.id == record.id, ContactImport.status == record.status, ContactImport.undone_at.is_(None))
        .values(status="undoing")
    ).rowcount
    session.commit()
    if claimed != 1:
        raise Conflict(f"import {import_id} is being undone")
    previous = record.status
    try:
        return describe(revert(session, record, outbox, scope))
    except BaseException:
        session.rollback()
        session.execute(update(ContactImport).where(ContactImport.id == record.id).values(status=previous))
        session.commit()  # the batches undone stay undone; undoing again finishes the rest
        raise


def revert(session, record: ContactImport, outbox, scope: Scope | None = None) -> ContactImport:
    """Undo the changes of `record` (see `undo_import`), whatever its status; it is then `undone`.
    Only contacts `scope` may see are touched: the others are listed as not undone."""
    result = {"deleted": 0, "restored": 0, "not_undone": [], "not_undone_count": 0}
    schema = ContactSchema()
    last = ""
    while True:
        changes = session.scalars(
            select(ContactImportChange)
            .where(ContactImportChange.import_id == record.id, ContactImportChange.contact_id > last)
            .order_by(ContactImportChange.contact_id)
            .limit(UNDO_BATCH)
        ).all()
        if not changes:
            break
        last = changes[-1].contact_id
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
        session.commit()
    record = session.get(ContactImport, record.id)
    record.status, record.undone_at, record.undo_report = "undone", utcnow(), result
    session.commit()
    return record


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
