"""Merging duplicates into one contact, and undoing a merge (survivorship is `duplicates.merge_contacts`)."""

from contacts import companies
from contacts.contacts import live, seen_by
from contacts.duplicates import merge_contacts
from contacts.models import Contact, Merge
from contacts.schemas import ContactSchema, MergeRequestSchema, MergeSchema
from crm_kernel import records
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.schemas import load
from crm_kernel.scope import Scope

WRITABLE = tuple(name for name, field in ContactSchema().fields.items() if not field.dump_only)


def merge(db, scope: Scope | None, target_id: str, data: dict, *, outbox, actor: str | None) -> dict:
    """Merge the sources into the target; the sources are soft-deleted and point at the target."""
    source_ids = list(dict.fromkeys(load(MergeRequestSchema(), data)["source_ids"]))
    if target_id in source_ids:
        raise ValidationFailed("a contact cannot be merged into itself", {"source_ids": ["contains the target"]})
    target = live(db, scope, target_id)
    sources = [records.find(db, Contact, source_id) for source_id in source_ids]
    missing = [  # a source the caller may not see is as unknown as one that does not exist
        i
        for i, s in zip(source_ids, sources, strict=True)
        if s is None or s.deleted_at is not None or not seen_by(scope, s)
    ]
    if missing:
        raise ValidationFailed("unknown source contacts", {"source_ids": [f"unknown contact {i}" for i in missing]})
    target_before = ContactSchema().dump(target)
    sources_before = ContactSchema(many=True).dump(sources)
    merged, record = merge_contacts(target_before, sources_before)
    now = utcnow()
    for name, value in merged.items():
        setattr(target, name, value)
    target.refresh_search_text(companies.live_name(db, target.company_id))
    target.updated_at = now
    for source in sources:
        source.deleted_at, source.merged_into = now, target.id
    records.flush_or_stale(db, target_id)
    done = Merge(
        target_id=target.id,
        source_ids=source_ids,
        target_before=target_before,
        sources_before=sources_before,
        conflicts=record["conflicts"],
        target_version_after=target.version,
        actor=actor,
    )
    db.add(done)
    db.flush()
    dumped = ContactSchema().dump(target)
    outbox.add(db, "contact.merged", dumped, source_ids=source_ids, merge_id=done.id)
    db.commit()
    return MergeSchema().dump(
        {"merge_id": done.id, "target": target, "source_ids": source_ids, "conflicts": record["conflicts"]}
    )


def undo(db, scope: Scope | None, merge_id: str, *, outbox) -> dict:
    """Put the target and its sources back as they were; refused once the target changed after the merge."""
    done = records.find(db, Merge, merge_id)
    target = records.find(db, Contact, done.target_id) if done is not None else None
    if done is None or target is None or not seen_by(scope, target):  # a hidden target's merge does not exist
        raise NotFound(f"merge {merge_id} not found")
    if done.undone_at is not None:
        raise Conflict(f"merge {merge_id} was undone already")
    target = live(db, scope, done.target_id)
    if target.version != done.target_version_after:
        raise Conflict(f"contact {target.id} changed after merge {merge_id}; undoing it would lose those changes")
    for name in WRITABLE:
        setattr(target, name, done.target_before[name])
    target.refresh_search_text(companies.live_name(db, target.company_id))
    target.updated_at = utcnow()
    for source_id in done.source_ids:
        source = records.find(db, Contact, source_id)
        source.deleted_at, source.merged_into = None, None
        source.updated_at = utcnow()
    done.undone_at = utcnow()
    records.flush_or_stale(db, target.id)
    dumped = ContactSchema().dump(target)
    outbox.add(db, "contact.unmerged", dumped, source_ids=done.source_ids, merge_id=done.id)
    db.commit()
    return MergeSchema().dump(
        {"merge_id": done.id, "target": target, "source_ids": done.source_ids, "conflicts": done.conflicts}
    )
