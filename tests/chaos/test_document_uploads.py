"""Uploads retried with their Idempotency-Key write once, on SQLite and PostgreSQL.

The gateway sends the caller's key (hashed with the caller) in the RPC context; the documents service
records its answer in the commit of the document or version itself, so a retry whose first reply
was lost with the broker (the gateway answered 503 and forgot its own record) gets the first answer
back instead of a second document, or a second version of the same upload.
"""

import uuid

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_kernel.db import get_engine
from crm_kernel.idempotency import IDEMPOTENCY_KEY, call_key
from crm_kernel.migrations import upgrade
from crm_kernel.scope import SCOPE, Scope
from crm_kernel.topology import service_class
from documents.models import Document, DocumentVersion, IdempotentWrite
from documents.storage import blob_store


@pytest.fixture
def documents(database_url, rabbit_config, container_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCUMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path / "blobs"))
    upgrade("documents", database_url)
    container = container_factory(service_class("documents"))
    container.start()
    return container


SYSTEM = {SCOPE: Scope.system().encode()}  # a call with no scope sees nothing


def content(text: str) -> dict:
    sha256, size = blob_store().put([text.encode()])
    return {"filename": "quote.txt", "content_type": "text/plain", "sha256": sha256, "size": size}


def counts(database_url: str) -> tuple[int, int, int]:
    with Session(get_engine(database_url)) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Document, DocumentVersion, IdempotentWrite)
        )


def test_a_retried_upload_gets_the_first_document_and_makes_none_twice(documents, database_url):
    key = SYSTEM | {IDEMPOTENCY_KEY: call_key("u:someone", uuid.uuid4().hex)}
    body = {"title": "Quote", "kind": "quote", **content("Quote for Ada\n")}
    with entrypoint_hook(documents, "create_document", context_data=key) as create:
        first = create(body)
        retried = create(body)  # the first reply lost: the client retries with the same key
    assert retried == first
    with entrypoint_hook(
        documents, "create_document", context_data=SYSTEM | {IDEMPOTENCY_KEY: "another" * 8}
    ) as create:
        assert create(body)["id"] != first["id"]  # another key is another upload
    assert counts(database_url) == (2, 2, 2)


def test_a_retried_new_version_is_added_once(documents, database_url):
    with entrypoint_hook(documents, "create_document", context_data=SYSTEM) as create:
        document = create({"title": "Contract", "kind": "contract", **content("v1\n")})
    key = SYSTEM | {IDEMPOTENCY_KEY: call_key("u:someone", uuid.uuid4().hex)}
    with entrypoint_hook(documents, "add_version", context_data=key) as add_version:
        first = add_version(document["id"], content("v2\n"), document["version"])
        # The retry names the version it saw before its first attempt: without the key it would be a 412.
        retried = add_version(document["id"], content("v2\n"), document["version"])
    assert retried == first and first["current_version"] == 2
    assert counts(database_url) == (1, 2, 1)
