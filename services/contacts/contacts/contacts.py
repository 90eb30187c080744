"""Contacts: the people the company talks to. Plain functions over an explicit session and scope."""

from sqlalchemy import select

from contacts import companies, custom_fields
from contacts.duplicates import rank_duplicates
from contacts.models import Contact, ContactKey, OutboxEvent, contact_keys
from contacts.placement import owner_errors, placement_errors
from contacts.schemas import ContactQuerySchema, ContactSchema, DuplicateSchema, HistoryEntrySchema
from contacts.search import contact_by_id, contact_page
from crm_kernel import records
from crm_kernel.db import outside_transaction, utcnow
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.outbox import audit_trail
from crm_kernel.schemas import load
from crm_kernel.scope import Scope, visible

ON_DUPLICATE = ("report", "reject")
COMPANY_CANDIDATES = 5000  # contacts of one company compared by name on a create
HISTORY = 500  # changes of one contact listed at most


def create(db, scope: Scope | None, data: dict, *, outbox, once, on_duplicate: str = "report") -> dict:
    """Create a contact; the answer lists existing contacts it may duplicate (`on_duplicate=reject`: 409)."""
    if on_duplicate not in ON_DUPLICATE:
        raise ValidationFailed("on_duplicate is report or reject", {"on_duplicate": ["report or reject"]})
    fields = checked_input(db, scope, data)
    duplicates = find_duplicates(db, scope, fields)
    if duplicates and on_duplicate == "reject":
        raise Conflict(
            "this contact may already exist",
            {"duplicates": [f"{d['id']}: {', '.join(d['reasons'])}" for d in duplicates]},
        )
    contact = Contact(**fields)
    contact.refresh_search_text(companies.live_name(db, contact.company_id))
    db.add(contact)
    db.flush()
    dumped = ContactSchema().dump(contact)
    outbox.add(db, "contact.created", dumped)
    return once.commit(db, {**dumped, "duplicates": DuplicateSchema(many=True).dump(duplicates)})


def get(db, scope: Scope | None, contact_id: str) -> dict:
    """The contact and its tags, read in one statement outside a transaction (one round trip); a
    contact that is absent, deleted or out of sight is the same 404."""
    found = contact_by_id(outside_transaction(db), scope, contact_id) if records.plausible_id(contact_id) else None
    if found is None:
        raise NotFound(f"contact {contact_id} not found")
    return found


def update(db, scope: Scope | None, contact_id: str, data: dict, *, outbox, expected_version=None) -> dict:
    contact = live(db, scope, contact_id, expected_version)
    fields = checked_input(db, scope, data, partial=True)
    before = ContactSchema().dump(contact)
    for name, value in fields.items():
        setattr(contact, name, value)
    changed = records.changes(before, ContactSchema().dump(contact), fields)
    if not changed:
        return before
    contact.refresh_search_text(companies.live_name(db, contact.company_id))
    contact.updated_at = utcnow()
    records.flush_or_stale(db, contact_id)
    dumped = ContactSchema().dump(contact)
    outbox.add(db, "contact.updated", dumped, changes=changed)
    db.commit()
    return dumped


def delete(db, scope: Scope | None, contact_id: str, *, outbox, expected_version=None) -> None:
    """Soft delete: the contact leaves lists and reads, its history stays, and it can be restored."""
    contact = live(db, scope, contact_id, expected_version)
    contact.deleted_at = utcnow()
    records.flush_or_stale(db, contact_id)
    outbox.add(db, "contact.deleted", ContactSchema().dump(contact))
    db.commit()


def restore(db, scope: Scope | None, contact_id: str, *, outbox) -> dict:
    contact = records.visible_or_404(db, Contact, contact_id, scope, noun="contact", live=False)
    if contact.merged_into:
        raise Conflict(f"contact {contact_id} was merged into {contact.merged_into}; undo that merge instead")
    if contact.deleted_at is None:
        return ContactSchema().dump(contact)
    contact.deleted_at = None
    contact.updated_at = utcnow()
    records.flush_or_stale(db, contact_id)
    dumped = ContactSchema().dump(contact)
    outbox.add(db, "contact.restored", dumped)
    db.commit()
    return dumped


def history(db, scope: Scope | None, contact_id: str) -> dict:
    """Every change of a contact (deleted ones too), newest first: who, when, which fields, old and new."""
    records.visible_or_404(db, Contact, contact_id, scope, noun="contact", live=False)
    trail = audit_trail(db, OutboxEvent, "contact", contact_id, limit=HISTORY)
    return {"items": HistoryEntrySchema(many=True).dump(trail)}


def listed(db, scope: Scope | None, query: dict) -> dict:
    """One page of the contacts matching `query` that the caller may see, in one statement outside a
    transaction (`search.contact_page`)."""
    params = load(ContactQuerySchema(), query)
    items, next_cursor = contact_page(
        outside_transaction(db), scope, params, limit=params["limit"], cursor=params["cursor"], sort=params["sort"]
    )
    return {"items": items, "next_cursor": next_cursor}


def duplicates_of(db, scope: Scope | None, contact_id: str) -> dict:
    return {"items": find_duplicates(db, scope, ContactSchema().dump(live(db, scope, contact_id)))}


def live(db, scope: Scope | None, contact_id: str, expected_version: int | None = None) -> Contact:
    """The live contact the caller may see, at `expected_version` when one is given; else 404 (or 412)."""
    return records.visible_or_404(db, Contact, contact_id, scope, noun="contact", expected_version=expected_version)


def seen_by(scope: Scope | None, record) -> bool:
    """Whether the caller may see `record` (a contact or company already loaded); no scope sees nothing."""
    return scope is not None and scope.sees({"owner_id": record.owner_id, "department_id": record.department_id})


def checked_input(db, scope: Scope | None, data: dict, partial: bool = False) -> dict:
    """The fields of `data` checked at once, so one answer names every bad field: the wire format,
    custom fields against their definitions, the company against this database, and where the caller
    may put the contact and to whom they may hand it."""
    errors = {}
    try:
        fields = load(ContactSchema(), data, partial=partial)
    except ValidationFailed as exc:
        errors, fields = dict(exc.errors), {}
    attributes = data.get("attributes", None if partial else {}) if isinstance(data, dict) else None
    if isinstance(attributes, dict) and "attributes" not in errors:
        try:
            fields["attributes"] = custom_fields.validate_attributes(
                custom_fields.definitions(db), attributes, enforce_required=True
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    company_id = data.get("company_id") if isinstance(data, dict) else None
    if isinstance(company_id, str) and "company_id" not in errors and not companies.visible_to(db, scope, company_id):
        errors["company_id"] = ["unknown company"]  # the same words for a company the caller may not see
    errors.update(placement_errors(scope, fields))
    if "owner_id" not in errors:
        errors.update(owner_errors(db, scope, fields))
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)
    return fields


def find_duplicates(db, scope: Scope | None, contact: dict) -> list[dict]:
    """Live contacts that may be the same person as `contact`, by e-mail, phone or name at its company;
    only those the caller may see (a duplicate in another office must not reveal its customer)."""
    keys = contact_keys(contact.get("emails") or [], contact.get("phones") or [])
    candidates = {}
    if keys:
        stmt = select(Contact).join(ContactKey).where(ContactKey.key.in_(keys), Contact.deleted_at.is_(None))
        candidates.update((c.id, c) for c in db.scalars(visible(stmt, Contact, scope)).unique())
    if contact.get("company_id"):
        stmt = (
            select(Contact)
            .where(Contact.company_id == contact["company_id"], Contact.deleted_at.is_(None))
            .limit(COMPANY_CANDIDATES)
        )
        candidates.update((c.id, c) for c in db.scalars(visible(stmt, Contact, scope)))
    return rank_duplicates(contact, ContactSchema(many=True).dump(candidates.values()))
