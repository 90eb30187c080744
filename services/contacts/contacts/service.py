"""The contacts service: the customer base. Entrypoints only; each parses the call, takes the caller's
scope, calls one function of an entity module (contacts, companies, custom_fields, merging, imports,
importer, export, users) and returns what it gives."""

from nameko.timer import timer
from werkzeug.wrappers import Response

from contacts import companies, contacts, custom_fields, export, importer, imports, merging, users
from contacts.models import IdempotentWrite, OutboxEvent, ProcessedEvent
from crm_kernel.config import env
from crm_kernel.events import consumer
from crm_kernel.http import api, body_stream, bound_body, query_args
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.scope import Scope
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey, verified_caller, verified_scope


class ContactsService(ServiceBase):
    name = "contacts"
    outbox = Outbox(OutboxEvent)
    internal_key = InternalKey()  # of the gateway's signed requests to /import, /imports/<id>/undo, /export
    once = Idempotency(IdempotentWrite)
    processed_events = ProcessedEvent  # events applied, for `consumer`

    # Contacts

    @rpc
    @idempotent
    def create_contact(self, data: dict, on_duplicate: str = "report") -> dict:
        """Create a contact; the answer lists existing contacts it may duplicate (`?on_duplicate=reject`: 409)."""
        scope = self.context.scope
        return contacts.create(self.db, scope, data, outbox=self.outbox, once=self.once, on_duplicate=on_duplicate)

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        return contacts.get(self.db, self.context.scope, contact_id)

    @rpc
    def update_contact(self, contact_id: str, changes: dict, expected_version: int | None = None) -> dict:
        scope = self.context.scope
        return contacts.update(
            self.db, scope, contact_id, changes, outbox=self.outbox, expected_version=expected_version
        )

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        scope = self.context.scope
        contacts.delete(self.db, scope, contact_id, outbox=self.outbox, expected_version=expected_version)

    @rpc
    def restore_contact(self, contact_id: str) -> dict:
        return contacts.restore(self.db, self.context.scope, contact_id, outbox=self.outbox)

    @api("GET", "/contacts")
    def read_contacts(self, request):
        """`GET /api/v1/contacts` (a page of the list or of a search) from the gateway, signed."""
        return contacts.listed(self.db, verified_scope(request, self.internal_key), query_args(request))

    @api("GET", "/contacts/<contact_id>")
    def read_contact(self, request, contact_id):
        """`GET /api/v1/contacts/{id}` from the gateway, signed: the busiest read, kept off the broker."""
        return contacts.get(self.db, verified_scope(request, self.internal_key), contact_id)

    @rpc
    def contact_history(self, contact_id: str) -> dict:
        return contacts.history(self.db, self.context.scope, contact_id)

    @rpc
    def list_contacts(self, query: dict) -> dict:
        return contacts.listed(self.db, self.context.scope, query)

    @rpc
    def contact_duplicates(self, contact_id: str) -> dict:
        return contacts.duplicates_of(self.db, self.context.scope, contact_id)

    @rpc
    def merge_contacts(self, target_id: str, data: dict) -> dict:
        scope, actor = self.context.scope, self.context.actor
        return merging.merge(self.db, scope, target_id, data, outbox=self.outbox, actor=actor)

    @rpc
    def undo_merge(self, merge_id: str) -> dict:
        return merging.undo(self.db, self.context.scope, merge_id, outbox=self.outbox)

    # Companies

    @rpc
    def create_company(self, data: dict) -> dict:
        return companies.create(self.db, self.context.scope, data, outbox=self.outbox)

    @rpc
    def get_company(self, company_id: str) -> dict:
        return companies.get(self.db, self.context.scope, company_id)

    @rpc
    def update_company(self, company_id: str, changes: dict, expected_version: int | None = None) -> dict:
        scope = self.context.scope
        return companies.update(
            self.db, scope, company_id, changes, outbox=self.outbox, expected_version=expected_version
        )

    @rpc
    def delete_company(self, company_id: str, expected_version: int | None = None) -> None:
        scope = self.context.scope
        companies.delete(self.db, scope, company_id, outbox=self.outbox, expected_version=expected_version)

    @rpc
    def restore_company(self, company_id: str) -> dict:
        return companies.restore(self.db, self.context.scope, company_id, outbox=self.outbox)

    @rpc
    def list_companies(self, query: dict) -> dict:
        return companies.listed(self.db, self.context.scope, query)

    # Custom field definitions (the gateway lets admins write them)

    @rpc
    def create_field_definition(self, data: dict) -> dict:
        return custom_fields.create(self.db, data, outbox=self.outbox)

    @rpc
    def list_field_definitions(self) -> dict:
        return custom_fields.listed(self.db)

    @rpc
    def get_field_definition(self, key: str) -> dict:
        return custom_fields.get(self.db, key)

    @rpc
    def update_field_definition(self, key: str, changes: dict) -> dict:
        return custom_fields.update(self.db, key, changes, outbox=self.outbox)

    @rpc
    def delete_field_definition(self, key: str) -> None:
        custom_fields.delete(self.db, key, outbox=self.outbox)

    # CSV import and export: internal HTTP, for bodies too large for RPC messages

    @api("POST", "/import")
    def import_contacts(self, request):
        scope = signed_caller(request, self.internal_key, self.context)
        rules = importer.rules_from(query_args(request))
        bound_body(request, importer.max_bytes(request.headers))
        return importer.import_csv(
            self.db,
            body_stream(request),
            outbox=self.outbox,
            definitions=custom_fields.definitions(self.db),
            defaults=importer.defaults_for(scope),
            scope=scope,
            rules=rules,
        )

    @api("POST", "/imports/<import_id>/undo")
    def undo_contact_import(self, request, import_id):
        """Undo an import as a whole (a large one takes longer than an RPC may: hence HTTP)."""
        scope = signed_caller(request, self.internal_key, self.context)
        return imports.undo(self.db, scope, import_id, outbox=self.outbox)

    @api("GET", "/export")
    def export_contacts(self, request):
        """The filtered contacts as CSV, streamed a page at a time."""
        scope = verified_scope(request, self.internal_key)
        params = export.checked_query(self.db, query_args(request))
        keys = sorted(custom_fields.definitions(self.db))
        rows = export.export_rows(self.db.get_bind(), params, keys, scope)
        return Response(rows, mimetype="text/csv", direct_passthrough=True)

    @rpc
    def list_imports(self, query: dict) -> dict:
        return imports.listed(self.db, self.context.scope, query)

    @rpc
    def get_import(self, import_id: str) -> dict:
        return imports.get(self.db, self.context.scope, import_id)

    @timer(interval=float(env("CRM_IMPORT_SWEEP_SECONDS", "60")), eager=True)
    def fail_interrupted_imports(self) -> None:
        """At start and every minute: an import whose process is gone (its lease passed) becomes failed."""
        imports.expire_interrupted(self.db)

    # The replica of the gateway's users (the owner rule reads it)

    @consumer("gateway", "user.created")
    def on_user_created(self, event):
        users.replicate(self.db, event)

    @consumer("gateway", "user.updated")
    def on_user_updated(self, event):
        users.replicate(self.db, event)

    @consumer("gateway", "user.deleted")
    def on_user_deleted(self, event):
        users.replicate(self.db, event, deleted=True)


def signed_caller(request, key, context) -> Scope:
    """The scope of a request the gateway signed; the actor it signed (if any) acts from now on."""
    scope, actor = verified_caller(request, key)
    if actor:
        context.act_as(actor)
    return scope
