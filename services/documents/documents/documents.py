"""Documents: plain functions over an explicit session, the caller's scope, the outbox and the clients
of the services a document points at.

Every read goes through `visible`: a document outside the caller's scope reads as absent (404). Every
change and the event announcing it commit together.
"""

from itertools import chain

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel import records
from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.scope import Scope, visible
from documents.generation import render_pdf
from documents.models import Document, DocumentTransition, DocumentVersion
from documents.schemas import DocumentSchema, TransitionSchema, VersionSchema
from documents.sniffing import HEAD_BYTES, content_type_of
from documents.storage import blob_store, chunks_of
from documents.workflow import REVISE, check_reviewer, next_status, status_after_new_version

CONTENT_FIELDS = ("filename", "content_type", "sha256", "size")
FILTERS = ("kind", "status", "contact_id", "deal_id", "ticket_id")
SORTABLE = ("created_at", "updated_at", "title")
# A document is the uploader's, and shared with the uploader's department.
OWNERS = {"owners": ("uploaded_by",), "department": "uploaded_by_department_id"}


def find_visible(db: Session, scope: Scope, document_id, expected_version: int | None = None) -> Document:
    """The document the caller may see (404 otherwise), at `expected_version` when one is given (412)."""
    return records.visible_or_404(
        db, Document, document_id, scope, noun="document", expected_version=expected_version, **OWNERS
    )


def get(db: Session, scope: Scope, document_id) -> dict:
    return DocumentSchema().dump(find_visible(db, scope, document_id))


def contact_of(contacts, contact_id: str, message: str | None = None) -> dict:
    """The contact a document is for, as the caller sees it; 422 naming `contact_id` when the caller
    sees no such contact (absent and out of scope alike)."""
    try:
        return contacts.get_contact(contact_id)
    except NotFound:
        raise ValidationFailed(
            message or f"contact {contact_id} does not exist", {"contact_id": ["unknown contact"]}
        ) from None


def check_links(fields: dict, *, contacts, interactions) -> None:
    """The contact, deal and ticket a document is filed under exist for the caller (422 naming the field
    otherwise), asked of the services that own them."""
    if fields.get("contact_id"):
        contact_of(contacts, fields["contact_id"])
    for field, read in (("deal_id", "get_deal"), ("ticket_id", "get_ticket")):
        if fields.get(field):
            try:
                getattr(interactions, read)(fields[field])
            except NotFound:
                raise ValidationFailed(f"{field} names no record you may see", {field: ["unknown"]}) from None


def create(db: Session, scope: Scope, actor: str | None, fields: dict, *, outbox, once) -> dict:
    """Record a document (in draft, at version 1) whose content is already in the blob store; `once`
    records the answer under the caller's Idempotency-Key in the same commit."""
    check_stored(fields)
    document = Document(
        **fields,
        status="draft",
        current_version=1,
        uploaded_by=actor,
        uploaded_by_department_id=scope.department_id if scope else None,
    )
    db.add(document)
    db.flush()
    content = {name: fields[name] for name in CONTENT_FIELDS}
    db.add(DocumentVersion(document_id=document.id, number=1, uploaded_by=actor, **content))
    dumped = DocumentSchema().dump(document)
    outbox.add(db, "document.created", dumped)
    return commit_once(db, document.id, dumped, once)


def generate(db: Session, scope: Scope, actor: str | None, request: dict, contact: dict, *, outbox, once) -> dict:
    """Render the quote or contract of `request` for `contact` as PDF, store it, record it as a document."""
    pdf = render_pdf(request["template"], contact, request["deal"], request["deal_id"])
    sha256, size = blob_store().put([pdf])
    name = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")])) or contact["id"]
    fields = {
        "title": request["title"] or f"{request['template'].title()} for {name}",
        "kind": request["template"],
        "contact_id": request["contact_id"],
        "deal_id": request["deal_id"],
        "ticket_id": None,
        "filename": f"{request['template']}-{request['contact_id']}.pdf",
        "content_type": "application/pdf",
        "sha256": sha256,
        "size": size,
    }
    return create(db, scope, actor, fields, outbox=outbox, once=once)


def search(db: Session, scope: Scope, params: dict) -> dict:
    """A page of the documents the caller sees, filtered by `params` (DocumentQuerySchema)."""
    stmt = visible(select(Document), Document, scope, **OWNERS)
    for name in FILTERS:
        if params[name] is not None:
            stmt = stmt.where(getattr(Document, name) == params[name])
    if params["created_from"] is not None:
        stmt = stmt.where(Document.created_at >= params["created_from"])
    if params["created_to"] is not None:
        stmt = stmt.where(Document.created_at < params["created_to"])
    rows, next_cursor = keyset_page(
        db, stmt, Document, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=SORTABLE
    )
    return {"items": DocumentSchema(many=True).dump(rows), "next_cursor": next_cursor}


def add_version(
    db: Session, scope: Scope, actor: str | None, document_id, content: dict, expected_version, *, outbox, once
) -> dict:
    """A new immutable version becomes current; a reviewed or signed document goes back to draft."""
    check_stored(content)
    document = find_visible(db, scope, document_id, expected_version)
    from_status, to_status = document.status, status_after_new_version(document.status)
    number = document.current_version + 1
    db.add(DocumentVersion(document_id=document.id, number=number, uploaded_by=actor, **content))
    if from_status != to_status:
        record_transition(db, document, actor, REVISE, to_status, f"superseded by version {number}")
    for name, value in content.items():
        setattr(document, name, value)
    document.current_version = number
    dumped = flush_and_dump(db, document)
    outbox.add(
        db, "document.version_added", dumped, version_number=number, from_status=from_status, to_status=to_status
    )
    return commit_once(db, document.id, dumped, once)


def versions(db: Session, scope: Scope, document_id) -> list[dict]:
    """Every version of the document, oldest first."""
    document = find_visible(db, scope, document_id)
    rows = db.scalars(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id).order_by(DocumentVersion.number)
    ).all()
    return VersionSchema(many=True).dump(rows)


def version(db: Session, scope: Scope, document_id, number: int) -> dict:
    document = find_visible(db, scope, document_id)
    row = db.scalar(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id, DocumentVersion.number == number)
    )
    if row is None:
        raise NotFound(f"document {document_id} has no version {number}")
    return VersionSchema().dump(row)


def transition(
    db: Session, scope: Scope, actor: str | None, document_id, request: dict, expected_version, *, outbox
) -> dict:
    """Move the document along its approval workflow (`documents.workflow`), recording who, when and why."""
    document = find_visible(db, scope, document_id, expected_version)
    current_uploader = db.scalar(
        select(DocumentVersion.uploaded_by).where(
            DocumentVersion.document_id == document.id, DocumentVersion.number == document.current_version
        )
    )
    uploaders = (document.uploaded_by, current_uploader)
    check_reviewer(request["action"], scope, document.uploaded_by_department_id, uploaders)
    from_status, to_status = document.status, next_status(document.status, request["action"])
    record_transition(db, document, actor, request["action"], to_status, request["comment"])
    dumped = flush_and_dump(db, document)
    outbox.add(
        db,
        "document.transitioned",
        dumped,
        action=request["action"],
        from_status=from_status,
        to_status=to_status,
        comment=request["comment"],
    )
    records.commit_or_stale(db, document.id)
    return dumped


def transitions(db: Session, scope: Scope, document_id) -> list[dict]:
    """The approval trail, oldest first."""
    document = find_visible(db, scope, document_id)
    steps = db.scalars(
        select(DocumentTransition)
        .where(DocumentTransition.document_id == document.id)
        .order_by(DocumentTransition.created_at, DocumentTransition.id)
    ).all()
    return TransitionSchema(many=True).dump(steps)


def move_to_contact(db: Session, source_ids: list[str], target_id: str, *, outbox) -> None:
    """The documents of the contacts `source_ids` now belong to `target_id`, each change announced.
    The caller commits (an event consumer)."""
    sources = [source for source in source_ids if source != target_id]
    moved = db.scalars(select(Document).where(Document.contact_id.in_(sources))).all() if sources else []
    for document in moved:
        old = document.contact_id
        document.contact_id = target_id
        outbox.add(db, "document.updated", flush_and_dump(db, document), changes={"contact_id": [old, target_id]})


def store_upload(stream, declared_type: str | None) -> dict:
    """Store a streamed upload by its SHA-256 after checking its first bytes against `declared_type`."""
    head = read_head(stream)
    if not head:
        raise ValidationFailed("the file is empty", {"file": ["empty file"]})
    content_type = content_type_of(head, declared_type)
    sha256, size = blob_store().put(chain([head], chunks_of(stream)))
    return {"sha256": sha256, "size": size, "content_type": content_type}


def read_head(stream, size: int = HEAD_BYTES) -> bytes:
    """Up to `size` first bytes of `stream` (a read may return fewer than asked before the end)."""
    head = b""
    while len(head) < size and (chunk := stream.read(size - len(head))):
        head += chunk
    return head


def check_stored(fields: dict) -> None:
    """A document never points at content that is not stored, whole, with the size it claims."""
    try:
        stored_size = blob_store().verify(fields["sha256"])
    except NotFound:
        raise ValidationFailed("no content is stored with this SHA-256", {"sha256": ["not stored"]}) from None
    if stored_size != fields["size"]:
        raise ValidationFailed("size does not match the stored content", {"size": [f"stored: {stored_size}"]})


def record_transition(
    db: Session, document: Document, actor: str | None, action: str, to_status: str, comment: str | None
) -> None:
    db.add(
        DocumentTransition(
            document_id=document.id,
            action=action,
            from_status=document.status,
            to_status=to_status,
            comment=comment,
            actor=actor,
        )
    )
    document.status = to_status


def commit_once(db: Session, document_id: str, answer: dict, once) -> dict:
    """Commit (412 when another writer changed the document meanwhile) with `answer` recorded under the
    caller's Idempotency-Key: a retry whose first reply was lost gets this answer, not a second write."""
    records.flush_or_stale(db, document_id)
    return once.commit(db, answer)


def flush_and_dump(db: Session, document: Document) -> dict:
    """The document as its event carries it: flushed first, for the new lock version and `updated_at`."""
    records.flush_or_stale(db, document.id)
    return DocumentSchema().dump(document)
