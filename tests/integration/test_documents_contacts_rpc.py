"""The documents service asks the contacts service, over the real RabbitMQ, whether the contact a
document is for exists: an unknown contact is bad input naming `contact_id`, a contacts service that
does not answer is a retryable 503, and neither stores a document."""

import pytest
from nameko.testing.services import entrypoint_hook

from crm_kernel.errors import ServiceUnavailable, ValidationFailed
from crm_kernel.scope import SCOPE, Scope
from documents.storage import blob_store


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


@pytest.fixture(autouse=True)
def blobs(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path / "blobs"))


def letter(contact_id: str) -> dict:
    sha256, size = blob_store().put([b"a letter"])
    content = {"filename": "letter.txt", "content_type": "text/plain", "sha256": sha256, "size": size}
    return {"title": "Letter", "kind": "letter", "contact_id": contact_id, **content}


def count_documents(documents) -> int:
    with entrypoint_hook(documents, "list_documents", context_data=system()) as search:
        return len(search({})["items"])


def test_a_document_for_a_known_contact_is_stored_and_for_an_unknown_one_refused(start):
    documents, contacts = start("documents", "contacts")
    with entrypoint_hook(contacts, "create_contact", context_data=system()) as create_contact:
        contact = create_contact({"first_name": "Ada"})

    with entrypoint_hook(documents, "create_document", context_data=system()) as create:
        assert create(letter(contact["id"]))["contact_id"] == contact["id"]
        with pytest.raises(ValidationFailed) as refused:
            create(letter("no-such-contact"))
    with entrypoint_hook(documents, "generate_document", context_data=system()) as generate:
        quote = generate({"template": "quote", "contact_id": contact["id"]})

    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert quote["title"] == "Quote for Ada" and count_documents(documents) == 2


def test_without_the_contacts_service_a_document_for_a_contact_is_a_retryable_503(start):
    (documents,) = start("documents")

    with entrypoint_hook(documents, "create_document", context_data=system()) as create:
        with pytest.raises(ServiceUnavailable) as refused:
            create(letter("c1"))
        unfiled = create({**letter("c1"), "contact_id": None})

    assert refused.value.retry_after and "contacts" in refused.value.detail
    assert unfiled["contact_id"] is None and count_documents(documents) == 1
