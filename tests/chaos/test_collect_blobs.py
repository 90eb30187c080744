"""`python -m documents.collect`: blobs no version references, older than the grace period, are
listed (dry run, the default) and removed with `--delete`; referenced and young blobs stay."""

import os
import time

import pytest
from sqlalchemy.orm import Session

from crm_kernel.db import get_engine
from crm_kernel.migrations import upgrade
from documents import collect
from documents.models import Document, DocumentVersion
from documents.storage import blob_store

DAY = 24 * 3600


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def stored(database_url, tmp_path, monkeypatch):
    """A referenced blob, an orphan two days old, an orphan of a minute ago, a stale spool file."""
    monkeypatch.setenv("DOCUMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path / "blobs"))
    upgrade("documents", database_url)
    store = blob_store()
    kept, _ = store.put([b"the signed contract\n"])
    orphan, _ = store.put([b"half an upload whose document never committed\n"])
    young, _ = store.put([b"an upload in flight\n"])
    age(store.path_of(kept), 3 * DAY)
    age(store.path_of(orphan), 2 * DAY)
    age(store.path_of(young), 60)
    spool = tmp_path / "blobs" / "tmp" / "tmpkilled"
    spool.write_bytes(b"the first bytes of an upload cut off")
    age(spool, 2 * DAY)
    with Session(get_engine(database_url)) as session:
        fields = {"filename": "c.txt", "content_type": "text/plain", "sha256": kept, "size": 20}
        document = Document(title="Contract", kind="contract", status="draft", version=1, **fields)
        session.add(document)
        session.flush()
        session.add(DocumentVersion(document_id=document.id, number=1, **fields))
        session.commit()
    return store, {"kept": kept, "orphan": orphan, "young": young, "spool": spool}


def test_a_dry_run_lists_the_old_orphans_and_deletes_nothing(stored, capsys):
    store, blobs = stored
    assert collect.main([]) == 0
    out = capsys.readouterr().out
    assert f"would delete blob {blobs['orphan']}" in out
    assert "would delete spool file tmpkilled" in out
    assert blobs["kept"] not in out and blobs["young"] not in out
    assert "kept 1 referenced and 1 younger than 24 h; dry run" in out
    assert all(store.exists(blobs[name]) for name in ("kept", "orphan", "young")) and blobs["spool"].exists()


def test_delete_removes_only_unreferenced_blobs_past_the_grace_period(stored, capsys):
    store, blobs = stored
    assert collect.main(["--delete"]) == 0
    assert "deleted 1 unreferenced blobs" in capsys.readouterr().out
    assert not store.exists(blobs["orphan"]) and not blobs["spool"].exists()
    assert store.exists(blobs["kept"]) and store.exists(blobs["young"])
    assert store.verify(blobs["kept"]) == 20  # the referenced content is whole
    assert collect.main(["--delete", "--grace-hours", "0"]) == 0  # the young one's turn
    assert not store.exists(blobs["young"]) and store.exists(blobs["kept"])


def test_a_blob_stored_again_meanwhile_is_not_deleted(stored, database_url, monkeypatch):
    """The same bytes uploaded again between the listing and the deletion: the new upload keeps them."""
    store, blobs = stored
    real = collect.still_referenced

    def uploaded_again(session, sha256):
        store.put([b"half an upload whose document never committed\n"])  # a fresh file, modified now
        return real(session, sha256)

    monkeypatch.setattr(collect, "still_referenced", uploaded_again)
    with Session(get_engine(database_url)) as session:
        found = collect.collect(session, store, delete=True)
    assert found.blobs == [] and store.exists(blobs["orphan"])
