"""The documents service's methods with Nameko's worker_factory over an in-memory database, no broker."""

import hashlib
import io

import pypdf
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from crm_kernel.context import CallContext
from crm_kernel.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.idempotency import IdempotentWrites
from crm_kernel.outbox import OutboxRecorder, make_event
from crm_kernel.scope import Scope
from documents.models import Base, Document, DocumentTransition, DocumentVersion, IdempotentWrite, OutboxEvent
from documents.service import DocumentsService
from documents.storage import blob_store

AGENT = Scope("agent-1", "agent", "sales-north")
SALES_MANAGER = Scope("manager-1", "manager", "sales", ("sales", "sales-north"))
SUPPORT_MANAGER = Scope("manager-2", "manager", "support", ("support",))
ADMIN = Scope("admin-1", "admin", "hq", ("hq",))


class Directory:
    """The contacts and interactions services as the documents service sees them: records by id."""

    def __init__(self, records: dict):
        self.records = records

    def __getattr__(self, method):
        def read(record_id):
            if record_id not in self.records:
                raise NotFound(f"{record_id} not found")
            return self.records[record_id]

        return read


CONTACTS = {"c1": {"id": "c1", "first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"]}}
CONTACTS |= {key: {"id": key} for key in ("c2", "src-1", "src-2", "other")}
DEALS_AND_TICKETS = {"d1": {"id": "d1"}, "t1": {"id": "t1"}}


class Documents:
    """Calls the service as Nameko would: a fresh worker and session per call, as a given user."""

    def __init__(self, engine):
        self.engine = engine

    def as_(self, scope: Scope | None = AGENT, failing_outbox=False):
        engine = self.engine
        clients = {"contacts": Directory(CONTACTS), "interactions": Directory(DEALS_AND_TICKETS)}

        class Caller:
            def __getattr__(self, method):
                def call(*args, **kwargs):
                    data = {"request_id": "r1", "actor": scope.user_id if scope else None}
                    if scope:
                        data["scope"] = scope.encode()
                    with Session(engine, expire_on_commit=False) as session:
                        outbox = OutboxRecorder(OutboxEvent, data)
                        if failing_outbox:
                            outbox.add = _crash
                        once = IdempotentWrites(IdempotentWrite, None, method)
                        worker = worker_factory(
                            DocumentsService, db=session, outbox=outbox, context=CallContext(data), once=once, **clients
                        )
                        return getattr(worker, method)(*args, **kwargs)

                return call

        return Caller()

    def count(self, model) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(model))

    def events(self) -> list[dict]:
        with Session(self.engine) as session:
            return [row.payload for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def _crash(*args, **kwargs):
    raise RuntimeError("the process died before the commit")


@pytest.fixture
def documents(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCUMENTS_STORAGE", "local")
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path / "blobs"))
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    yield Documents(engine)
    engine.dispose()


def stored(content: bytes = b"Quote for Ada\n", filename="quote.txt", content_type="text/plain") -> dict:
    sha256, size = blob_store().put([content])
    return {"filename": filename, "content_type": content_type, "sha256": sha256, "size": size}


def upload(documents, scope=AGENT, **fields) -> dict:
    return documents.as_(scope).create_document({"title": "Quote", "kind": "quote", **stored(), **fields})


def test_an_upload_is_a_draft_at_version_1_by_its_uploader_and_their_department(documents):
    document = upload(documents, contact_id="c1")
    assert document["status"] == "draft" and document["current_version"] == 1 and document["version"] == 1
    assert document["uploaded_by"] == "agent-1" and document["uploaded_by_department_id"] == "sales-north"
    assert [e["type"] for e in documents.events()] == ["document.created"]
    assert documents.as_().list_versions(document["id"])[0]["sha256"] == document["sha256"]


def test_a_document_never_points_at_content_that_is_not_stored(documents):
    missing = {"filename": "x.txt", "content_type": "text/plain", "sha256": "a" * 64, "size": 3}
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().create_document({"title": "Ghost", **missing})
    assert "sha256" in raised.value.errors
    assert documents.count(Document) == 0 and documents.count(DocumentVersion) == 0


def test_a_size_that_differs_from_the_stored_content_is_refused(documents):
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().create_document({"title": "Quote", **stored(), "size": 1})
    assert "size" in raised.value.errors and documents.count(Document) == 0


def test_a_crash_between_the_blob_and_the_commit_leaves_no_document(documents):
    content = stored()
    with pytest.raises(RuntimeError):
        documents.as_(failing_outbox=True).create_document({"title": "Quote", **content})
    assert blob_store().exists(content["sha256"])  # an unreferenced blob, harmless
    assert documents.count(Document) == 0 and documents.count(DocumentVersion) == 0


def test_an_unknown_kind_is_refused_naming_kind(documents):
    with pytest.raises(ValidationFailed) as raised:
        upload(documents, kind="poem")
    assert list(raised.value.errors) == ["kind"] and documents.count(Document) == 0


def test_a_new_version_becomes_current_and_the_old_one_stays_readable(documents):
    document = upload(documents)
    second = stored(b"Quote for Ada, revised\n", "quote-v2.txt")
    updated = documents.as_(SALES_MANAGER).add_version(document["id"], second, expected_version=1)
    assert updated["current_version"] == 2 and updated["sha256"] == second["sha256"] and updated["version"] == 2
    versions = documents.as_().list_versions(document["id"])
    assert [(v["number"], v["uploaded_by"]) for v in versions] == [(1, "agent-1"), (2, "manager-1")]
    assert all(v["created_at"] for v in versions)
    assert documents.as_().get_version(document["id"], 1)["sha256"] == document["sha256"]
    with pytest.raises(NotFound):
        documents.as_().get_version(document["id"], 3)
    event = documents.events()[-1]
    assert event["type"] == "document.version_added" and event["version_number"] == 2


def test_a_version_against_a_stale_etag_changes_nothing(documents):
    document = upload(documents)
    with pytest.raises(PreconditionFailed):
        documents.as_().add_version(document["id"], stored(b"v2\n"), expected_version=7)
    assert documents.count(DocumentVersion) == 1


def test_the_workflow_records_who_moved_the_document_when_and_why(documents):
    document = upload(documents)
    documents.as_(AGENT).transition(document["id"], {"action": "submit", "comment": "please check"})
    documents.as_(SALES_MANAGER).transition(document["id"], {"action": "approve", "comment": "fine"})
    signed = documents.as_(AGENT).transition(document["id"], {"action": "sign"})
    assert signed["status"] == "signed"
    trail = documents.as_().list_transitions(document["id"])
    assert [(t["action"], t["from_status"], t["to_status"], t["actor"]) for t in trail] == [
        ("submit", "draft", "in_review", "agent-1"),
        ("approve", "in_review", "approved", "manager-1"),
        ("sign", "approved", "signed", "agent-1"),
    ]
    assert trail[0]["comment"] == "please check" and trail[0]["created_at"]
    event = documents.events()[-1]
    assert event["type"] == "document.transitioned" and (event["from_status"], event["to_status"]) == (
        "approved",
        "signed",
    )


def test_a_move_the_workflow_does_not_allow_is_409_and_changes_nothing(documents):
    document = upload(documents)
    with pytest.raises(Conflict) as raised:
        documents.as_(ADMIN).transition(document["id"], {"action": "sign"})
    assert "sign" in raised.value.errors["action"][0]
    assert documents.as_().get_document(document["id"])["status"] == "draft"
    assert documents.count(DocumentTransition) == 0


@pytest.mark.parametrize(
    "reviewer, refusal",
    [(AGENT, Forbidden), (SUPPORT_MANAGER, NotFound)],  # another branch's document reads as absent
)
def test_only_a_manager_above_the_uploader_or_an_admin_approves(documents, reviewer, refusal):
    document = upload(documents)
    documents.as_(AGENT).transition(document["id"], {"action": "submit"})
    with pytest.raises(refusal):
        documents.as_(reviewer).transition(document["id"], {"action": "approve"})
    assert documents.as_(ADMIN).get_document(document["id"])["status"] == "in_review"
    assert documents.as_(ADMIN).transition(document["id"], {"action": "reject"})["status"] == "rejected"


def test_an_unknown_action_is_refused_naming_action(documents):
    document = upload(documents)
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().transition(document["id"], {"action": "shred"})
    assert list(raised.value.errors) == ["action"]


def test_a_signed_document_is_superseded_by_a_new_version_that_is_reviewed_again(documents):
    document = upload(documents)
    for scope, action in [(AGENT, "submit"), (SALES_MANAGER, "approve"), (AGENT, "sign")]:
        documents.as_(scope).transition(document["id"], {"action": action})
    revised = documents.as_().add_version(document["id"], stored(b"amended\n"))
    assert revised["status"] == "draft" and revised["current_version"] == 2
    assert documents.as_().list_transitions(document["id"])[-1]["action"] == "revise"
    assert documents.as_().get_version(document["id"], 1)["sha256"] == document["sha256"]  # the signed one stays
    event = documents.events()[-1]
    assert (event["from_status"], event["to_status"]) == ("signed", "draft")


def test_an_agent_sees_the_documents_of_their_department_only(documents):
    mine = upload(documents)
    theirs = upload(documents, scope=Scope("agent-9", "agent", "support"))
    assert [d["id"] for d in documents.as_(AGENT).list_documents({})["items"]] == [mine["id"]]
    with pytest.raises(NotFound):
        documents.as_(AGENT).get_document(theirs["id"])
    assert len(documents.as_(ADMIN).list_documents({})["items"]) == 2


def test_documents_are_found_by_kind_status_links_and_period_a_page_at_a_time(documents):
    quote = upload(documents, contact_id="c1", deal_id="d1")
    contract = upload(documents, kind="contract", contact_id="c1", ticket_id="t1")
    upload(documents, kind="letter", contact_id="c2")
    documents.as_().transition(contract["id"], {"action": "submit"})

    def ids(**query):
        return [d["id"] for d in documents.as_(ADMIN).list_documents(query)["items"]]

    assert ids(kind="quote") == [quote["id"]]
    assert ids(status="in_review") == [contract["id"]]
    assert set(ids(contact_id="c1")) == {quote["id"], contract["id"]}
    assert ids(deal_id="d1") == [quote["id"]] and ids(ticket_id="t1") == [contract["id"]]
    assert len(ids(created_from="2000-01-01T00:00:00+00:00")) == 3
    assert ids(created_to="2000-01-01T00:00:00+00:00") == []
    first = documents.as_(ADMIN).list_documents({"limit": 2})
    second = documents.as_(ADMIN).list_documents({"limit": 2, "cursor": first["next_cursor"]})
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert not {d["id"] for d in first["items"]} & {d["id"] for d in second["items"]}


def test_bad_filters_are_refused_naming_them(documents):
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().list_documents({"status": "lost", "created_from": "yesterday"})
    assert set(raised.value.errors) == {"status", "created_from"}


def test_a_generated_quote_is_a_pdf_that_holds_the_contacts_name(documents):
    deal = {"title": "Three engines", "amount": "12500.00", "currency": "EUR"}
    document = documents.as_().generate_document({"template": "quote", "contact_id": "c1", "deal": deal})
    assert document["kind"] == "quote" and document["content_type"] == "application/pdf"
    assert document["contact_id"] == "c1" and document["status"] == "draft"
    size, chunks = blob_store().open_verified(document["sha256"])
    pdf = b"".join(chunks)
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"] and size == document["size"]
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Ada Lovelace" in text and "12500.00 EUR" in text


def test_an_unknown_template_is_refused_naming_template(documents):
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().generate_document({"template": "poem", "contact_id": "c1"})
    assert list(raised.value.errors) == ["template"] and documents.count(Document) == 0


def test_a_quote_for_a_contact_the_caller_does_not_see_is_refused_naming_contact_id(documents):
    with pytest.raises(ValidationFailed) as raised:
        documents.as_().generate_document({"template": "quote", "contact_id": "nobody"})
    assert raised.value.errors == {"contact_id": ["unknown contact"]} and documents.count(Document) == 0


@pytest.mark.parametrize(
    "field, errors",
    [("contact_id", ["unknown contact"]), ("deal_id", ["unknown"]), ("ticket_id", ["unknown"])],
)
def test_a_document_filed_under_a_record_the_caller_does_not_see_is_refused_naming_it(documents, field, errors):
    with pytest.raises(ValidationFailed) as raised:
        upload(documents, **{field: "nobody"})
    assert raised.value.errors == {field: errors}
    assert documents.count(Document) == 0 and documents.events() == []


def merged(target: str, *sources: str) -> dict:
    return make_event("contact.merged", {"id": target}, {"actor": "u1", "request_id": "r1"}, source_ids=list(sources))


def test_a_contact_merge_re_points_the_documents_of_the_sources_once(documents):
    first, second = upload(documents, contact_id="src-1"), upload(documents, contact_id="src-2")
    untouched = upload(documents, contact_id="other")
    event = merged("target", "src-1", "src-2")
    documents.as_(None).on_contact_merged(event)
    documents.as_(None).on_contact_merged(event)  # a redelivery
    contact_of = {d["id"]: d["contact_id"] for d in documents.as_(ADMIN).list_documents({})["items"]}
    assert contact_of == {first["id"]: "target", second["id"]: "target", untouched["id"]: "other"}
    updates = [e for e in documents.events() if e["type"] == "document.updated"]
    assert len(updates) == 2 and all(e["changes"]["contact_id"][1] == "target" for e in updates)


@pytest.mark.parametrize("uploader", [SALES_MANAGER, ADMIN])
def test_four_eyes_the_uploader_never_approves_their_own_document(documents, uploader):
    document = upload(documents, uploader)
    documents.as_(uploader).transition(document["id"], {"action": "submit"})
    for action in ("approve", "reject"):
        with pytest.raises(Forbidden, match="four eyes"):
            documents.as_(uploader).transition(document["id"], {"action": action})
    assert documents.as_(ADMIN).get_document(document["id"])["status"] == "in_review"


def test_four_eyes_holds_for_whoever_uploaded_the_current_version(documents):
    document = upload(documents, AGENT)
    documents.as_(SALES_MANAGER).add_version(document["id"], stored(b"v2 by the manager\n"), expected_version=1)
    documents.as_(AGENT).transition(document["id"], {"action": "submit"})
    with pytest.raises(Forbidden, match="four eyes"):
        documents.as_(SALES_MANAGER).transition(document["id"], {"action": "approve"})
    assert documents.as_(ADMIN).transition(document["id"], {"action": "approve"})["status"] == "approved"
