"""The documents service: electronic documents, stored by checksum and never served unchecked."""

from werkzeug.wrappers import Response

from crm_kernel.config import env, var_dir
from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.http import api
from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from documents.models import Document, OutboxEvent
from documents.schemas import DocumentSchema
from documents.storage import LocalBlobStore


def blob_store() -> LocalBlobStore:
    root = env("DOCUMENTS_STORAGE_DIR", str(var_dir() / "documents"))
    return LocalBlobStore(root, max_bytes=int(env("CRM_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024))))


class DocumentsService(ServiceBase):
    name = "documents"
    outbox = Outbox(OutboxEvent)

    @rpc
    def create_document(self, data: dict) -> dict:
        """Record a document whose content was stored by `PUT /blobs` beforehand."""
        fields = load(DocumentSchema(), data)
        stored_size = blob_store().verify(fields["sha256"])
        if stored_size != fields["size"]:
            raise ValidationFailed("size does not match the stored content", {"size": [f"stored: {stored_size}"]})
        document = Document(**fields, uploaded_by=self.context.actor)
        self.db.add(document)
        self.db.flush()
        dumped = DocumentSchema().dump(document)
        self.outbox.add(self.db, "document.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_document(self, document_id: str) -> dict:
        document = self.db.get(Document, document_id)
        if document is None:
            raise NotFound(f"document {document_id} not found")
        return DocumentSchema().dump(document)

    # Content travels over internal HTTP, streamed, not through RabbitMQ messages.

    @api("PUT", "/blobs")
    def put_blob(self, request):
        sha256, size = blob_store().put(request.stream)
        return 201, {"sha256": sha256, "size": size}

    @api("GET", "/blobs/<string:sha256>")
    def get_blob(self, request, sha256):
        store = blob_store()
        size = store.verify(sha256)
        return Response(
            store.read(sha256),
            mimetype="application/octet-stream",
            headers={"Content-Length": str(size), "Digest": f"sha-256={sha256}"},
            direct_passthrough=True,
        )
