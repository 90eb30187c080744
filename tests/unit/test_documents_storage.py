"""Blob stores (local filesystem and S3) keep content by SHA-256 and never serve corrupted bytes."""

import hashlib
import io
import ssl

import boto3
import botocore.httpsession
import pytest
from moto import mock_aws

from crm_kernel.errors import NotFound, PayloadTooLarge, ValidationFailed
from documents.storage import CHECKSUM_FAILURES, ContentCorrupted, LocalBlobStore, S3BlobStore, blob_store, chunks_of
from gateway.documents_api import safe_filename

CONTENT = b"Quote for Ada Lovelace: 3 engines\n" * 1000


def chunks(data: bytes, size: int = 1000):
    return chunks_of(io.BytesIO(data), size)


@pytest.fixture
def local(tmp_path):
    return LocalBlobStore(tmp_path / "blobs", max_bytes=100_000)


@pytest.fixture
def s3(tmp_path, monkeypatch):
    # Under pytest, urllib3 is imported (by plugins) before eventlet patches ssl, and botocore would
    # build its context from that unpatched class, which recurses once ssl is green. `nameko run`
    # patches before any import, so only tests need the green class handed over.
    monkeypatch.setattr(botocore.httpsession, "SSLContext", ssl.SSLContext)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", use_ssl=False)
        client.create_bucket(Bucket="crm-documents")
        yield S3BlobStore(client, "crm-documents", tmp_path / "spool", max_bytes=100_000)


@pytest.fixture(params=["local", "s3"])
def store(request):
    return request.getfixturevalue(request.param)


def corrupt(store, sha256: str) -> None:
    if isinstance(store, LocalBlobStore):
        store.path_of(sha256).write_bytes(b"tampered" + CONTENT[8:])
    else:
        store.client.put_object(Bucket=store.bucket, Key=sha256, Body=b"tampered" + CONTENT[8:])


def test_content_is_stored_under_its_sha256_and_comes_back_whole(store):
    sha256, size = store.put(chunks(CONTENT))
    assert sha256 == hashlib.sha256(CONTENT).hexdigest() and size == len(CONTENT)
    assert store.exists(sha256) and list(store.stored()) == [sha256]
    served_size, served = store.open_verified(sha256)
    assert served_size == len(CONTENT) and b"".join(served) == CONTENT


def test_the_same_content_twice_is_one_blob(store):
    first = store.put(chunks(CONTENT))
    assert store.put(chunks(CONTENT, 77)) == first
    assert len(list(store.stored())) == 1


def test_a_corrupted_blob_is_detected_counted_and_never_served(store):
    sha256, _ = store.put(chunks(CONTENT))
    corrupt(store, sha256)
    before = CHECKSUM_FAILURES._value.get()
    with pytest.raises(ContentCorrupted):
        store.open_verified(sha256)
    with pytest.raises(ContentCorrupted):
        store.verify(sha256)
    assert CHECKSUM_FAILURES._value.get() == before + 2


def test_a_file_over_the_limit_is_refused_and_leaves_nothing_behind(store):
    with pytest.raises(PayloadTooLarge):
        store.put(chunks(b"x" * 100_001))
    assert list(store.stored()) == []


def test_an_empty_file_is_refused_naming_file(store):
    with pytest.raises(ValidationFailed) as raised:
        store.put(chunks(b""))
    assert "file" in raised.value.errors
    assert list(store.stored()) == []


def test_an_unknown_blob_is_not_found(store):
    with pytest.raises(NotFound):
        store.verify("0" * 64)


def test_a_local_upload_leaves_no_temporary_file(local):
    local.put(chunks(CONTENT))
    with pytest.raises(PayloadTooLarge):
        local.put(chunks(b"y" * 100_001))
    assert list((local.root / "tmp").iterdir()) == []


def test_a_local_blob_name_is_never_a_path_from_outside(local):
    with pytest.raises(NotFound):
        local.path_of("../../etc/passwd")


@pytest.mark.parametrize(
    "name, shown",
    [("../../etc/passwd", "passwd"), ("C:\\Users\\ada\\quote.pdf", "quote.pdf"), ("/", "upload"), (None, "upload")],
)
def test_a_client_file_name_keeps_only_its_last_part(name, shown):
    assert safe_filename(name) == shown


def test_the_store_is_chosen_by_configuration(tmp_path, monkeypatch, s3):
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCUMENTS_STORAGE", "local")
    assert isinstance(blob_store(), LocalBlobStore)
    monkeypatch.setenv("DOCUMENTS_STORAGE", "s3")
    with pytest.raises(RuntimeError, match="DOCUMENTS_S3_BUCKET"):
        blob_store()
    monkeypatch.setenv("DOCUMENTS_S3_BUCKET", "crm-documents")
    assert isinstance(blob_store(), S3BlobStore)
    monkeypatch.setenv("DOCUMENTS_STORAGE", "ftp")
    with pytest.raises(RuntimeError, match="local or s3"):
        blob_store()
