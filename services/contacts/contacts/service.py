"""The contacts service: the customer base.

Entrypoints by idea: contacts here; companies, custom field definitions, duplicates and merges,
and CSV import/export in their own mixins.
"""

from sqlalchemy import select
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.exc import StaleDataError

from contacts.access import placement_errors
from contacts.companies import CompaniesRpc
from contacts.definitions import FieldDefinitionsRpc
from contacts.duplicates import rank_duplicates
from contacts.fields import validate_attributes
from contacts.imports import describe, list_imports, visible_import
from contacts.merging import MergingRpc
from contacts.models import Company, Contact, ContactKey, IdempotentWrite, OutboxEvent, ProcessedEvent, contact_keys
from contacts.schemas import (
    CONTACT_SORTS,
    ContactQuerySchema,
    ContactSchema,
    DuplicateSchema,
    HistoryEntrySchema,
)
from contacts.search import contacts_matching
from contacts.transfer import TransferHttp
from contacts.users import UserReplicas
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox, audit_trail
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import PageQuerySchema, load
from crm_kernel.scope import visible
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey

ON_DUPLICATE = ("report", "reject")
COMPANY_CANDIDATES = 5000  # contacts of one company compared by name on a create


class ContactsService(CompaniesRpc, FieldDefinitionsRpc, MergingRpc, TransferHttp, UserReplicas, ServiceBase):
    name = "contacts"
    outbox = Outbox(OutboxEvent)
    internal_key = InternalKey()  # of the gateway's signed requests to /import and /export
    once = Idempotency(IdempotentWrite)
    processed_events = ProcessedEvent  # events applied, for `consumer`

    @rpc
    @idempotent
    def create_contact(self, data: dict, on_duplicate: str = "report") -> dict:
        """Create a contact; the answer lists existing contacts it may duplicate (`?on_duplicate=reject`: 409)."""
        if on_duplicate not in ON_DUPLICATE:
            raise ValidationFailed("on_duplicate is report or reject", {"on_duplicate": ["report or reject"]})
        fields = self.contact_input(data)
        duplicates = self.find_duplicates(fields)
        if duplicates and on_duplicate == "reject":
            raise Conflict(
                "this contact may already exist",
                {"duplicates": [f"{d['id']}: {', '.join(d['reasons'])}" for d in duplicates]},
            )
        contact = Contact(**fields)
        contact.refresh_search_text(self.company_name(contact.company_id))
        self.db.add(contact)
        self.db.flush()
        dumped = ContactSchema().dump(contact)
        self.outbox.add(self.db, "contact.created", dumped)
        return self.once.commit(self.db, {**dumped, "duplicates": DuplicateSchema(many=True).dump(duplicates)})

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        return ContactSchema().dump(self.live_contact(contact_id))

    @rpc
    def update_contact(self, contact_id: str, changes: dict, expected_version: int | None = None) -> dict:
        contact = self.live_contact(contact_id, expected_version)
        fields = self.contact_input(changes, partial=True)
        before = ContactSchema().dump(contact)
        for name, value in fields.items():
            setattr(contact, name, value)
        after = ContactSchema().dump(contact)
        changed = {name: [before[name], after[name]] for name in fields if before[name] != after[name]}
        if not changed:
            return before
        contact.refresh_search_text(self.company_name(contact.company_id))
        contact.updated_at = utcnow()
        self.flush_or_stale(contact_id)
        dumped = ContactSchema().dump(contact)
        self.outbox.add(self.db, "contact.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        """Soft delete: the contact leaves lists and reads, its history stays, and it can be restored."""
        contact = self.live_contact(contact_id, expected_version)
        contact.deleted_at = utcnow()
        self.flush_or_stale(contact_id)
        self.outbox.add(self.db, "contact.deleted", ContactSchema().dump(contact))
        self.db.commit()

    @rpc
    def restore_contact(self, contact_id: str) -> dict:
        contact = self.find(Contact, contact_id)
        if contact is None or not self.in_scope(contact):
            raise NotFound(f"contact {contact_id} not found")
        if contact.merged_into:
            raise Conflict(f"contact {contact_id} was merged into {contact.merged_into}; undo that merge instead")
        if contact.deleted_at is None:
            return ContactSchema().dump(contact)
        contact.deleted_at = None
        contact.updated_at = utcnow()
        self.flush_or_stale(contact_id)
        dumped = ContactSchema().dump(contact)
        self.outbox.add(self.db, "contact.restored", dumped)
        self.db.commit()
        return dumped

    @rpc
    def contact_history(self, contact_id: str) -> dict:
        """Every change of a contact (deleted ones too), newest first: who, when, which fields, old and new."""
        contact = self.find(Contact, contact_id)
        if contact is None or not self.in_scope(contact):
            raise NotFound(f"contact {contact_id} not found")
        trail = audit_trail(self.db, OutboxEvent, "contact", contact_id, limit=500)
        return {"items": HistoryEntrySchema(many=True).dump(trail)}

    @rpc
    def list_contacts(self, query: dict) -> dict:
        params = load(ContactQuerySchema(), query)
        stmt = contacts_matching(self.db, params).options(lazyload(Contact.key_rows))  # a list shows no keys
        rows, next_cursor = keyset_page(
            self.db,
            visible(stmt, Contact, self.context.scope),
            Contact,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=CONTACT_SORTS,
        )
        return {"items": ContactSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def list_imports(self, query: dict) -> dict:
        """The imports the caller may see (theirs; their departments' for a manager), newest first."""
        params = load(PageQuerySchema(), {k: v for k, v in query.items() if k in ("limit", "cursor")})
        return list_imports(self.db, self.context.scope, limit=params["limit"], cursor=params["cursor"])

    @rpc
    def get_import(self, import_id: str) -> dict:
        return describe(visible_import(self.db, import_id, self.context.scope))

    @rpc
    def contact_duplicates(self, contact_id: str) -> dict:
        contact = ContactSchema().dump(self.live_contact(contact_id))
        return {"items": self.find_duplicates(contact)}

    # Shared by the entrypoints of every mixin.

    def contact_input(self, data: dict, partial: bool = False) -> dict:
        """The fields of `data` checked at once, so one answer names every bad field: the wire format,
        custom fields against their definitions, the company against this database."""
        errors = {}
        try:
            fields = load(ContactSchema(), data, partial=partial)
        except ValidationFailed as exc:
            errors, fields = dict(exc.errors), {}
        attributes = data.get("attributes", None if partial else {}) if isinstance(data, dict) else None
        if isinstance(attributes, dict) and "attributes" not in errors:
            try:
                fields["attributes"] = validate_attributes(self.field_definitions(), attributes, enforce_required=True)
            except ValidationFailed as exc:
                errors.update(exc.errors)
        company_id = data.get("company_id") if isinstance(data, dict) else None
        if isinstance(company_id, str) and "company_id" not in errors and not self.company_visible(company_id):
            errors["company_id"] = ["unknown company"]  # the same words for a company the caller may not see
        errors.update(self.placement_errors(fields))
        if errors:
            raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)
        return fields

    def placement_errors(self, fields: dict) -> dict:
        return placement_errors(self.context.scope, fields)

    def company_visible(self, company_id: str) -> bool:
        """Whether a live company with this id exists for the caller (outside their scope it does not)."""
        company = self.find(Company, company_id)
        return company is not None and company.deleted_at is None and self.in_scope(company)

    def company_name(self, company_id: str | None) -> str | None:
        """The name of a live company, None when there is none."""
        company = self.find(Company, company_id) if company_id else None
        return company.name if company is not None and company.deleted_at is None else None

    def find_duplicates(self, contact: dict) -> list[dict]:
        """Live contacts that may be the same person as `contact`, by e-mail, phone or name at its company;
        only those the caller may see (a duplicate in another office must not reveal its customer)."""
        scope = self.context.scope
        keys = contact_keys(contact.get("emails") or [], contact.get("phones") or [])
        candidates = {}
        if keys:
            stmt = select(Contact).join(ContactKey).where(ContactKey.key.in_(keys), Contact.deleted_at.is_(None))
            candidates.update((c.id, c) for c in self.db.scalars(visible(stmt, Contact, scope)).unique())
        if contact.get("company_id"):
            stmt = (
                select(Contact)
                .where(Contact.company_id == contact["company_id"], Contact.deleted_at.is_(None))
                .limit(COMPANY_CANDIDATES)
            )
            candidates.update((c.id, c) for c in self.db.scalars(visible(stmt, Contact, scope)))
        return rank_duplicates(contact, ContactSchema(many=True).dump(candidates.values()))

    def find(self, model, entity_id):
        """The row of `model` with this id, or None; an id no row can have (NUL, too long) is simply not found."""
        if not (isinstance(entity_id, str) and 0 < len(entity_id) <= 32 and entity_id.isprintable()):
            return None  # PostgreSQL refuses NUL in text: that must be a 404, not a database error
        return self.db.get(model, entity_id)

    def in_scope(self, record) -> bool:
        """Whether the caller may see `record` (a contact or company); outside the scope it does not exist."""
        scope = self.context.scope
        return scope is None or scope.sees({"owner_id": record.owner_id, "department_id": record.department_id})

    def live_contact(self, contact_id: str, expected_version: int | None = None) -> Contact:
        contact = self.find(Contact, contact_id)
        if contact is None or contact.deleted_at is not None or not self.in_scope(contact):
            raise NotFound(f"contact {contact_id} not found")
        if expected_version is not None and contact.version != expected_version:
            raise PreconditionFailed(
                f"contact {contact_id} is at version {contact.version}, not {expected_version}; read it again"
            )
        return contact

    def flush_or_stale(self, entity_id: str) -> None:
        try:
            self.db.flush()
        except StaleDataError:
            self.db.rollback()
            raise PreconditionFailed(f"{entity_id} was changed meanwhile; read it again") from None
