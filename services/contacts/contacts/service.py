"""The contacts service: the customer base."""

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from contacts.models import Contact, ContactTag, OutboxEvent
from contacts.schemas import CONTACT_SORTS, ContactQuerySchema, ContactSchema
from crm_kernel.db import utcnow
from crm_kernel.errors import NotFound, PreconditionFailed
from crm_kernel.outbox import Outbox
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase


class ContactsService(ServiceBase):
    name = "contacts"
    outbox = Outbox(OutboxEvent)

    @rpc
    def create_contact(self, data: dict) -> dict:
        contact = Contact(**load(ContactSchema(), data))
        contact.refresh_search_text()
        self.db.add(contact)
        self.db.flush()
        dumped = ContactSchema().dump(contact)
        self.outbox.add(self.db, "contact.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        return ContactSchema().dump(self._load(contact_id))

    @rpc
    def update_contact(self, contact_id: str, changes: dict, expected_version: int | None = None) -> dict:
        contact = self._load(contact_id, expected_version)
        fields = load(ContactSchema(), changes, partial=True)
        before = ContactSchema().dump(contact)
        for name, value in fields.items():
            setattr(contact, name, value)
        after = ContactSchema().dump(contact)
        changed = {name: [before[name], after[name]] for name in fields if before[name] != after[name]}
        if not changed:
            return before
        contact.refresh_search_text()
        contact.updated_at = utcnow()
        self._flush_or_stale(contact_id)
        dumped = ContactSchema().dump(contact)
        self.outbox.add(self.db, "contact.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        """Soft delete: the contact leaves lists and reads, its history stays."""
        contact = self._load(contact_id, expected_version)
        contact.deleted_at = utcnow()
        self._flush_or_stale(contact_id)
        self.outbox.add(self.db, "contact.deleted", ContactSchema().dump(contact))
        self.db.commit()

    @rpc
    def list_contacts(self, query: dict) -> dict:
        params = load(ContactQuerySchema(), query)
        stmt = select(Contact).where(Contact.deleted_at.is_(None))
        if params["q"]:
            stmt = stmt.where(Contact.search_text.contains(params["q"].lower(), autoescape=True))
        if params["tag"]:
            stmt = stmt.where(Contact.tag_rows.any(ContactTag.tag == params["tag"]))
        for name in ("company_id", "owner_id", "department_id"):
            if params[name]:
                stmt = stmt.where(getattr(Contact, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Contact,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=CONTACT_SORTS,
        )
        return {"items": ContactSchema(many=True).dump(rows), "next_cursor": next_cursor}

    def _load(self, contact_id: str, expected_version: int | None = None) -> Contact:
        contact = self.db.get(Contact, contact_id)
        if contact is None or contact.deleted_at is not None:
            raise NotFound(f"contact {contact_id} not found")
        if expected_version is not None and contact.version != expected_version:
            raise PreconditionFailed(
                f"contact {contact_id} is at version {contact.version}, not {expected_version}; read it again"
            )
        return contact

    def _flush_or_stale(self, contact_id: str) -> None:
        try:
            self.db.flush()
        except StaleDataError:
            self.db.rollback()
            raise PreconditionFailed(f"contact {contact_id} was changed meanwhile; read it again") from None
