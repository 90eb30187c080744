"""The documents service: electronic documents, stored by checksum and never served unchecked.

Entrypoints only: each parses its input, calls a function of `documents.documents` with the session,
the caller's scope and the clients it needs, and returns what that gives. Metadata travels over RPC;
content is streamed over internal HTTP (`/blobs`), never through RabbitMQ messages.
"""

from werkzeug.wrappers import Response

from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.http import api
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey, verified_scope
from documents import documents, events
from documents.models import IdempotentWrite, OutboxEvent, ProcessedEvent
from documents.schemas import (
    ContentSchema,
    DocumentQuerySchema,
    DocumentSchema,
    GenerateSchema,
    TransitionRequestSchema,
)
from documents.storage import blob_store


class DocumentsService(ServiceBase):
    name = "documents"
    outbox = Outbox(OutboxEvent)
    processed_events = ProcessedEvent  # events applied, for `crm_kernel.events.consumer`
    internal_key = InternalKey()  # of the gateway's signed requests to /blobs
    once = Idempotency(IdempotentWrite)  # uploads retried with their Idempotency-Key write once
    contacts = DeadlineServiceRpc("contacts")  # does the contact a document is for exist?
    interactions = DeadlineServiceRpc("interactions")  # ... and its deal and ticket?

    @rpc
    @idempotent
    def create_document(self, data: dict) -> dict:
        """Record a document whose content was stored by `PUT /blobs` beforehand."""
        fields = load(DocumentSchema(), data)
        documents.check_links(fields, contacts=self.contacts, interactions=self.interactions)
        scope, actor = self.context.scope, self.context.actor
        return documents.create(self.db, scope, actor, fields, outbox=self.outbox, once=self.once)

    @rpc
    @idempotent
    def generate_document(self, request: dict, contact: dict | None = None) -> dict:
        """Render a quote or contract for the contact of `request` as PDF and store it as a new document.

        The contact is read from the contacts service, as the caller sees it; `contact` is not read.
        """
        fields = load(GenerateSchema(), request)
        contact = documents.contact_of(self.contacts, fields["contact_id"], "the contact does not exist")
        scope, actor = self.context.scope, self.context.actor
        return documents.generate(self.db, scope, actor, fields, contact, outbox=self.outbox, once=self.once)

    @rpc
    def get_document(self, document_id: str) -> dict:
        return documents.get(self.db, self.context.scope, document_id)

    @rpc
    def list_documents(self, query: dict) -> dict:
        return documents.search(self.db, self.context.scope, load(DocumentQuerySchema(), query))

    @rpc
    @idempotent
    def add_version(self, document_id: str, content: dict, expected_version: int | None = None) -> dict:
        """A new immutable version becomes current; a reviewed or signed document goes back to draft."""
        fields = load(ContentSchema(), content)
        scope, actor = self.context.scope, self.context.actor
        return documents.add_version(
            self.db, scope, actor, document_id, fields, expected_version, outbox=self.outbox, once=self.once
        )

    @rpc
    def list_versions(self, document_id: str) -> list[dict]:
        return documents.versions(self.db, self.context.scope, document_id)

    @rpc
    def get_version(self, document_id: str, number: int) -> dict:
        return documents.version(self.db, self.context.scope, document_id, number)

    @rpc
    def transition(self, document_id: str, request: dict, expected_version: int | None = None) -> dict:
        """Move the document along its approval workflow, recording who, when and why."""
        fields = load(TransitionRequestSchema(), request)
        scope, actor = self.context.scope, self.context.actor
        return documents.transition(self.db, scope, actor, document_id, fields, expected_version, outbox=self.outbox)

    @rpc
    def list_transitions(self, document_id: str) -> list[dict]:
        return documents.transitions(self.db, self.context.scope, document_id)

    on_contact_merged = events.on_contact_merged

    @api("PUT", "/blobs")
    def put_blob(self, request):
        """Store the body by its SHA-256, after checking its first bytes against `?content_type=`."""
        verified_scope(request, self.internal_key)
        return 201, documents.store_upload(request.stream, request.args.get("content_type"))

    @api("GET", "/blobs/<string:sha256>")
    def get_blob(self, request, sha256):
        verified_scope(request, self.internal_key)
        size, chunks = blob_store().open_verified(sha256)
        return Response(
            chunks,
            mimetype="application/octet-stream",
            headers={"Content-Length": str(size), "Digest": f"sha-256={sha256}"},
            direct_passthrough=True,
        )
