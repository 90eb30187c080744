"""Imports as records: listed with their reports, read one by one, and undone as a whole."""

from sqlalchemy import select, update

from contacts.models import Company, Contact, ContactImport, ContactImportChange
from contacts.schemas import ContactSchema
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound
from crm_kernel.pagination import keyset_page
from crm_kernel.scope import Scope, visible

UNDO_BATCH = 1000
LISTED = 1000  # contacts that could not be undone, listed in full; beyond that only counted
IMPORT_SORTS = ("created_at",)


def visible_import(session, import_id: str, scope: Scope | None) -> ContactImport:
    """The import, when the caller may see it (who ran it, their managers, admins); else 404."""
    found = None
    if isinstance(import_id, str) and 0 < len(import_id) <= 32 and import_id.isalnum():
        stmt = select(ContactImport).where(ContactImport.id == import_id)
        found = session.scalars(visible(stmt, ContactImport, scope, owners=("actor",))).first()
    if found is None:
        raise NotFound(f"import {import_id} not found")
    return found


def list_imports(session, scope: Scope | None, *, limit: int, cursor: str | None) -> dict:
    stmt = visible(select(ContactImport), ContactImport, scope, owners=("actor",))
    rows, next_cursor = keyset_page(
        session, stmt, ContactImport, limit=limit, cursor=cursor, sort="-created_at", sortable=IMPORT_SORTS
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


def undo_import(session, import_id: str, outbox, scope: Scope | None) -> dict:
    """Undo what the import did to contacts nobody has changed since: the contacts it created are deleted
    (softly, as `DELETE /contacts/{id}`), the fields it changed get their earlier values back. A contact
    changed, merged or deleted since is left as it is and listed with the reason. Commits a batch at a
    time, with the events that announce each change (`import_id` and `undo: true` in each)."""
    record = visible_import(session, import_id, scope)
    if scope is not None and scope.role == "agent" and record.actor != scope.user_id:
        raise NotFound(f"import {import_id} not found")  # an agent undoes their own imports only
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
    contact.refresh_search_text(_company_name(session, contact.company_id))
    contact.updated_at = utcnow()
    return {name: [dumped[name], after[name]] for name in before if dumped[name] != after[name]}


def _company_name(session, company_id: str | None) -> str | None:
    company = session.get(Company, company_id) if company_id else None
    return company.name if company is not None and company.deleted_at is None else None
