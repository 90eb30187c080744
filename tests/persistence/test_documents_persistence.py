"""Documents, their versions and approval trail on both engines, and the `verify` command over them."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_kernel.config import ROOT
from crm_kernel.db import utcnow
from crm_kernel.migrations import upgrade
from documents.models import Document, DocumentTransition, DocumentVersion
from documents.storage import LocalBlobStore


@pytest.fixture
def migrated(database_url):
    upgrade("documents", database_url)
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def add_document(session: Session, store: LocalBlobStore, content: bytes) -> Document:
    sha256, size = store.put([content])
    content_fields = {"filename": "a.txt", "content_type": "text/plain", "sha256": sha256, "size": size}
    document = Document(title="A", kind="letter", status="draft", current_version=1, **content_fields)
    session.add(document)
    session.flush()
    session.add(DocumentVersion(document_id=document.id, number=1, **content_fields))
    session.commit()
    return document


def test_versions_and_transitions_are_kept_with_their_times_in_utc(migrated, tmp_path):
    store = LocalBlobStore(tmp_path)
    with Session(migrated, expire_on_commit=False) as session:
        document = add_document(session, store, b"first")
        session.add(
            DocumentTransition(
                document_id=document.id, action="submit", from_status="draft", to_status="in_review", actor="u1"
            )
        )
        session.commit()
    with Session(migrated, expire_on_commit=False) as session:
        (step,) = session.scalars(select(DocumentTransition)).all()
        (version,) = session.scalars(select(DocumentVersion)).all()
        assert step.created_at.utcoffset().total_seconds() == 0 and step.created_at <= utcnow()
        assert version.number == 1 and session.get(Document, document.id).current_version == 1


def test_a_version_number_is_taken_once_per_document(migrated, tmp_path):
    store = LocalBlobStore(tmp_path)
    with Session(migrated, expire_on_commit=False) as session:
        document = add_document(session, store, b"first")
        session.add(
            DocumentVersion(
                document_id=document.id, number=1, filename="b", content_type="text/plain", sha256="b" * 64, size=1
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def run_verify(database_url: str, storage_dir) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        DOCUMENTS_DATABASE_URL=database_url,
        DOCUMENTS_STORAGE="local",
        DOCUMENTS_STORAGE_DIR=str(storage_dir),
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'services' / 'documents'}",
    )
    return subprocess.run(
        [sys.executable, "-m", "documents.verify"], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_verify_command_finds_a_corrupted_and_a_missing_blob(migrated, database_url, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with Session(migrated, expire_on_commit=False) as session:
        good = add_document(session, store, b"good content")
        bad = add_document(session, store, b"content that will rot")
        gone = add_document(session, store, b"content that will vanish")
    assert run_verify(database_url, store.root).returncode == 0

    store.path_of(bad.sha256).write_bytes(b"content that has rotted")
    store.path_of(gone.sha256).unlink()
    result = run_verify(database_url, store.root)

    assert result.returncode == 1, result.stderr
    assert f"corrupted: {bad.sha256}" in result.stdout and f"missing: {gone.sha256}" in result.stdout
    assert good.sha256 not in result.stdout
    assert "checked 3 blobs: 2 failures" in result.stdout
