"""Merging duplicates into one contact, and undoing a merge."""

from contacts import duplicates
from contacts.models import Contact, Merge
from contacts.schemas import ContactSchema, MergeRequestSchema, MergeSchema
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load

WRITABLE = tuple(name for name, field in ContactSchema().fields.items() if not field.dump_only)


class MergingRpc:
    @rpc
    def merge_contacts(self, target_id: str, data: dict) -> dict:
        """Merge the sources into the target (see `duplicates.merge_contacts`); the sources are soft-deleted."""
        source_ids = list(dict.fromkeys(load(MergeRequestSchema(), data)["source_ids"]))
        if target_id in source_ids:
            raise ValidationFailed("a contact cannot be merged into itself", {"source_ids": ["contains the target"]})
        target = self.live_contact(target_id)
        sources = [self.find(Contact, source_id) for source_id in source_ids]
        missing = [  # a source the caller may not see is as unknown as one that does not exist
            i
            for i, s in zip(source_ids, sources, strict=True)
            if s is None or s.deleted_at is not None or not self.in_scope(s)
        ]
        if missing:
            raise ValidationFailed("unknown source contacts", {"source_ids": [f"unknown contact {i}" for i in missing]})
        target_before = ContactSchema().dump(target)
        sources_before = ContactSchema(many=True).dump(sources)
        merged, record = duplicates.merge_contacts(target_before, sources_before)
        now = utcnow()
        for name, value in merged.items():
            setattr(target, name, value)
        target.refresh_search_text(self.company_name(target.company_id))
        target.updated_at = now
        for source in sources:
            source.deleted_at, source.merged_into = now, target.id
        self.flush_or_stale(target_id)
        merge = Merge(
            target_id=target.id,
            source_ids=source_ids,
            target_before=target_before,
            sources_before=sources_before,
            conflicts=record["conflicts"],
            target_version_after=target.version,
            actor=self.context.actor,
        )
        self.db.add(merge)
        self.db.flush()
        dumped = ContactSchema().dump(target)
        self.outbox.add(self.db, "contact.merged", dumped, source_ids=source_ids, merge_id=merge.id)
        self.db.commit()
        return MergeSchema().dump(
            {"merge_id": merge.id, "target": target, "source_ids": source_ids, "conflicts": record["conflicts"]}
        )

    @rpc
    def undo_merge(self, merge_id: str) -> dict:
        """Put the target and its sources back as they were; refused once the target changed after the merge."""
        merge = self.find(Merge, merge_id)
        target = self.find(Contact, merge.target_id) if merge is not None else None
        if merge is None or target is None or not self.in_scope(target):  # a hidden target's merge does not exist
            raise NotFound(f"merge {merge_id} not found")
        if merge.undone_at is not None:
            raise Conflict(f"merge {merge_id} was undone already")
        target = self.live_contact(merge.target_id)
        if target.version != merge.target_version_after:
            raise Conflict(f"contact {target.id} changed after merge {merge_id}; undoing it would lose those changes")
        for name in WRITABLE:
            setattr(target, name, merge.target_before[name])
        target.refresh_search_text(self.company_name(target.company_id))
        target.updated_at = utcnow()
        for source_id in merge.source_ids:
            source = self.find(Contact, source_id)
            source.deleted_at, source.merged_into = None, None
            source.updated_at = utcnow()
        merge.undone_at = utcnow()
        self.flush_or_stale(target.id)
        dumped = ContactSchema().dump(target)
        self.outbox.add(self.db, "contact.unmerged", dumped, source_ids=merge.source_ids, merge_id=merge.id)
        self.db.commit()
        return MergeSchema().dump(
            {"merge_id": merge.id, "target": target, "source_ids": merge.source_ids, "conflicts": merge.conflicts}
        )
