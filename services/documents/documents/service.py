"""The documents service: electronic documents, stored by checksum and never served unchecked."""

from itertools import chain

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.events import event_consumer
from crm_kernel.http import api
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox, consume_once
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.scope import visible
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey, verified_scope
from documents.generation import render_pdf
from documents.models import (
    Document,
    DocumentTransition,
    DocumentVersion,
    IdempotentWrite,
    OutboxEvent,
    ProcessedEvent,
)
from documents.schemas import (
    ContentSchema,
    DocumentQuerySchema,
    DocumentSchema,
    GenerateSchema,
    TransitionRequestSchema,
    TransitionSchema,
    VersionSchema,
)
from documents.sniffing import HEAD_BYTES, content_type_of
from documents.storage import blob_store, chunks_of
from documents.workflow import REVISE, check_reviewer, next_status, status_after_new_version

CONTENT_FIELDS = ("filename", "content_type", "sha256", "size")
SORTABLE = ("created_at", "updated_at", "title")


def read_head(stream, size: int = HEAD_BYTES) -> bytes:
    """Up to `size` first bytes of `stream` (a read may return fewer than asked before the end)."""
    head = b""
    while len(head) < size and (chunk := stream.read(size - len(head))):
        head += chunk
    return head


class DocumentsService(ServiceBase):
    name = "documents"
    outbox = Outbox(OutboxEvent)
    internal_key = InternalKey()  # of the gateway's signed requests to /blobs
    once = Idempotency(IdempotentWrite)  # uploads retried with their Idempotency-Key write once

    @rpc
    @idempotent
    def create_document(self, data: dict) -> dict:
        """Record a document whose content was stored by `PUT /blobs` beforehand."""
        fields = load(DocumentSchema(), data)
        return self._create(fields)

    @rpc
    @idempotent
    def generate_document(self, request: dict, contact: dict) -> dict:
        """Render a quote or contract for `contact` as PDF and store it as a new document."""
        fields = load(GenerateSchema(), request)
        pdf = render_pdf(fields["template"], contact, fields["deal"], fields["deal_id"])
        sha256, size = blob_store().put([pdf])
        name = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")])) or contact["id"]
        return self._create(
            {
                "title": fields["title"] or f"{fields['template'].title()} for {name}",
                "kind": fields["template"],
                "contact_id": fields["contact_id"],
                "deal_id": fields["deal_id"],
                "ticket_id": None,
                "filename": f"{fields['template']}-{fields['contact_id']}.pdf",
                "content_type": "application/pdf",
                "sha256": sha256,
                "size": size,
            }
        )

    @rpc
    def get_document(self, document_id: str) -> dict:
        return DocumentSchema().dump(self._load(document_id))

    @rpc
    def list_documents(self, query: dict) -> dict:
        params = load(DocumentQuerySchema(), query)
        stmt = self._visible(select(Document))
        for name in ("kind", "status", "contact_id", "deal_id", "ticket_id"):
            if params[name] is not None:
                stmt = stmt.where(getattr(Document, name) == params[name])
        if params["created_from"] is not None:
            stmt = stmt.where(Document.created_at >= params["created_from"])
        if params["created_to"] is not None:
            stmt = stmt.where(Document.created_at < params["created_to"])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Document,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=SORTABLE,
        )
        return {"items": DocumentSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    @idempotent
    def add_version(self, document_id: str, content: dict, expected_version: int | None = None) -> dict:
        """A new immutable version becomes current; a reviewed or signed document goes back to draft."""
        fields = load(ContentSchema(), content)
        self._check_stored(fields)
        document = self._load(document_id, expected_version)
        from_status, to_status = document.status, status_after_new_version(document.status)
        number = document.current_version + 1
        self.db.add(DocumentVersion(document_id=document.id, number=number, uploaded_by=self.context.actor, **fields))
        if from_status != to_status:
            self._record_transition(document, REVISE, to_status, f"superseded by version {number}")
        for name, value in fields.items():
            setattr(document, name, value)
        document.current_version = number
        dumped = self._flush_and_dump(document)
        self.outbox.add(
            self.db,
            "document.version_added",
            dumped,
            version_number=number,
            from_status=from_status,
            to_status=to_status,
        )
        return self._commit_once(dumped)

    @rpc
    def list_versions(self, document_id: str) -> list[dict]:
        document = self._load(document_id)
        versions = self.db.scalars(
            select(DocumentVersion).where(DocumentVersion.document_id == document.id).order_by(DocumentVersion.number)
        ).all()
        return VersionSchema(many=True).dump(versions)

    @rpc
    def get_version(self, document_id: str, number: int) -> dict:
        document = self._load(document_id)
        version = self.db.scalar(
            select(DocumentVersion).where(DocumentVersion.document_id == document.id, DocumentVersion.number == number)
        )
        if version is None:
            raise NotFound(f"document {document_id} has no version {number}")
        return VersionSchema().dump(version)

    @rpc
    def transition(self, document_id: str, request: dict, expected_version: int | None = None) -> dict:
        """Move the document along its approval workflow, recording who, when and why."""
        fields = load(TransitionRequestSchema(), request)
        document = self._load(document_id, expected_version)
        current = self.db.scalar(
            select(DocumentVersion.uploaded_by).where(
                DocumentVersion.document_id == document.id, DocumentVersion.number == document.current_version
            )
        )
        uploaders = (document.uploaded_by, current)
        check_reviewer(fields["action"], self.context.scope, document.uploaded_by_department_id, uploaders)
        from_status, to_status = document.status, next_status(document.status, fields["action"])
        self._record_transition(document, fields["action"], to_status, fields["comment"])
        dumped = self._flush_and_dump(document)
        self.outbox.add(
            self.db,
            "document.transitioned",
            dumped,
            action=fields["action"],
            from_status=from_status,
            to_status=to_status,
            comment=fields["comment"],
        )
        self._commit()
        return dumped

    @rpc
    def list_transitions(self, document_id: str) -> list[dict]:
        document = self._load(document_id)
        steps = self.db.scalars(
            select(DocumentTransition)
            .where(DocumentTransition.document_id == document.id)
            .order_by(DocumentTransition.created_at, DocumentTransition.id)
        ).all()
        return TransitionSchema(many=True).dump(steps)

    @event_consumer("contacts", "contact.merged")
    def on_contact_merged(self, event: dict) -> None:
        """The documents of the merged contacts now belong to the surviving one."""
        if not consume_once(self.db, ProcessedEvent, event):
            return
        target = event["entity"]["id"]
        sources = [source for source in event.get("source_ids") or [] if source != target]
        documents = self.db.scalars(select(Document).where(Document.contact_id.in_(sources))).all() if sources else []
        for document in documents:
            old = document.contact_id
            document.contact_id = target
            dumped = self._flush_and_dump(document)
            self.outbox.add(self.db, "document.updated", dumped, changes={"contact_id": [old, target]})
        self.db.commit()

    # Content travels over internal HTTP, streamed, not through RabbitMQ messages.

    @api("PUT", "/blobs")
    def put_blob(self, request):
        """Store the body by its SHA-256, after checking its first bytes against `?content_type=`."""
        verified_scope(request, self.internal_key)
        head = read_head(request.stream)
        if not head:
            raise ValidationFailed("the file is empty", {"file": ["empty file"]})
        content_type = content_type_of(head, request.args.get("content_type"))
        sha256, size = blob_store().put(chain([head], chunks_of(request.stream)))
        return 201, {"sha256": sha256, "size": size, "content_type": content_type}

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

    # The steps the methods above share.

    def _create(self, fields: dict) -> dict:
        self._check_stored(fields)
        scope = self.context.scope
        document = Document(
            **fields,
            status="draft",
            current_version=1,
            uploaded_by=self.context.actor,
            uploaded_by_department_id=scope.department_id if scope else None,
        )
        self.db.add(document)
        self.db.flush()
        content = {name: fields[name] for name in CONTENT_FIELDS}
        self.db.add(DocumentVersion(document_id=document.id, number=1, uploaded_by=self.context.actor, **content))
        dumped = DocumentSchema().dump(document)
        self.outbox.add(self.db, "document.created", dumped)
        return self._commit_once(dumped)

    def _check_stored(self, fields: dict) -> None:
        """A document never points at content that is not stored, whole, with the size it claims."""
        try:
            stored_size = blob_store().verify(fields["sha256"])
        except NotFound:
            raise ValidationFailed("no content is stored with this SHA-256", {"sha256": ["not stored"]}) from None
        if stored_size != fields["size"]:
            raise ValidationFailed("size does not match the stored content", {"size": [f"stored: {stored_size}"]})

    def _visible(self, stmt):
        return visible(
            stmt, Document, self.context.scope, owners=("uploaded_by",), department="uploaded_by_department_id"
        )

    def _load(self, document_id: str, expected_version: int | None = None) -> Document:
        document = self.db.scalar(self._visible(select(Document).where(Document.id == document_id)))
        if document is None:
            raise NotFound(f"document {document_id} not found")
        if expected_version is not None and expected_version != document.version:
            raise PreconditionFailed(f"document {document_id} is at version {document.version}, not {expected_version}")
        return document

    def _record_transition(self, document: Document, action: str, to_status: str, comment: str | None) -> None:
        self.db.add(
            DocumentTransition(
                document_id=document.id,
                action=action,
                from_status=document.status,
                to_status=to_status,
                comment=comment,
                actor=self.context.actor,
            )
        )
        document.status = to_status

    def _flush_and_dump(self, document: Document) -> dict:
        self.db.flush()  # the new lock version and updated_at belong in the event
        return DocumentSchema().dump(document)

    def _commit(self) -> None:
        try:
            self.db.commit()
        except StaleDataError:
            self.db.rollback()
            raise PreconditionFailed("the document was changed meanwhile; read it again") from None

    def _commit_once(self, answer: dict) -> dict:
        """`_commit`, with `answer` recorded under the caller's Idempotency-Key in the same commit: a
        retry whose first reply was lost gets this answer again instead of a second document."""
        try:
            return self.once.commit(self.db, answer)
        except StaleDataError:
            self.db.rollback()
            raise PreconditionFailed("the document was changed meanwhile; read it again") from None
