"""Content-addressed blob storage behind one small interface: the local filesystem or S3.

A blob is stored under its SHA-256. Uploads are streamed to a temporary file while hashed, never
held whole in memory; only a complete, fsynced file gets its real name (locally, by a rename; on
S3, by an upload of the finished file). Reads are verified before the first byte is served, so
corrupted bytes are never passed off as good ones: a mismatch is logged, counted and raised.
"""

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO, Protocol

from prometheus_client import Counter

from crm_kernel.config import env, var_dir
from crm_kernel.errors import CrmError, NotFound, PayloadTooLarge, ValidationFailed

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
CHECKSUM_FAILURES = Counter("crm_document_checksum_failures_total", "Blobs whose content failed its SHA-256.")


class ContentCorrupted(CrmError):
    status = 500
    title = "Stored content failed its integrity check"


def is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def max_upload_bytes() -> int:
    return int(env("CRM_MAX_UPLOAD_BYTES", str(DEFAULT_MAX_BYTES)))


class BlobStore(Protocol):
    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the bytes `chunks` yields; their SHA-256 and size. 413 past the limit, 422 when empty."""

    def exists(self, sha256: str) -> bool: ...

    def verify(self, sha256: str) -> int:
        """The blob's size after checking its content; NotFound or ContentCorrupted otherwise."""

    def open_verified(self, sha256: str) -> tuple[int, Iterator[bytes]]:
        """The size and the chunks of a blob whose content has been checked before the first chunk."""

    def stored(self) -> Iterator[str]:
        """The SHA-256 of every blob held."""


def chunks_of(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def checked(sha256: str, actual: str) -> None:
    if actual != sha256:
        CHECKSUM_FAILURES.inc()
        log.error("blob %s failed its checksum (got %s)", sha256, actual)
        raise ContentCorrupted(f"the stored content of blob {sha256} does not match its SHA-256")


@contextmanager
def spooled(directory: Path, chunks: Iterable[bytes], max_bytes: int):
    """A fsynced temporary file holding `chunks`, with its SHA-256 and size; removed afterwards."""
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
                digest.update(chunk)
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        if size == 0:
            raise ValidationFailed("the file is empty", {"file": ["empty file"]})
        yield Path(name), digest.hexdigest(), size
    finally:
        if os.path.exists(name):
            os.unlink(name)


class LocalBlobStore:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise NotFound(f"no blob {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        with spooled(self.root / "tmp", chunks, self.max_bytes) as (tmp, sha256, size):
            final = self.path_of(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        return sha256, size

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def verify(self, sha256: str) -> int:
        path = self.path_of(sha256)
        if not path.is_file():
            raise NotFound(f"no blob {sha256}")
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as blob:
            for chunk in chunks_of(blob):
                digest.update(chunk)
                size += len(chunk)
        checked(sha256, digest.hexdigest())
        return size

    def open_verified(self, sha256: str) -> tuple[int, Iterator[bytes]]:
        size = self.verify(sha256)
        return size, self._read(sha256)

    def _read(self, sha256: str) -> Iterator[bytes]:
        with self.path_of(sha256).open("rb") as blob:
            yield from chunks_of(blob)

    def stored(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/??/*")):
            if is_sha256(path.name):
                yield path.name


class S3BlobStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph): key = SHA-256. Credentials from the standard AWS_* variables."""

    def __init__(self, client, bucket: str, spool_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.client = client
        self.bucket = bucket
        self.spool_dir = Path(spool_dir)
        self.max_bytes = max_bytes
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        with spooled(self.spool_dir, chunks, self.max_bytes) as (tmp, sha256, size):
            if not self.exists(sha256):  # content-addressed: the same bytes are stored once
                # upload_file switches to a multipart upload for large files.
                self.client.upload_file(str(tmp), self.bucket, sha256)
        return sha256, size

    def exists(self, sha256: str) -> bool:
        if not is_sha256(sha256):
            return False
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=sha256)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def verify(self, sha256: str) -> int:
        path, size = self._download_checked(sha256)
        path.unlink()
        return size

    def open_verified(self, sha256: str) -> tuple[int, Iterator[bytes]]:
        """Downloads to a temporary file while hashing, then serves from it: one transfer, checked first."""
        path, size = self._download_checked(sha256)
        return size, _read_then_remove(path)

    def _download_checked(self, sha256: str) -> tuple[Path, int]:
        if not self.exists(sha256):
            raise NotFound(f"no blob {sha256}")
        body = self.client.get_object(Bucket=self.bucket, Key=sha256)["Body"]
        fd, name = tempfile.mkstemp(dir=self.spool_dir)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as tmp:
                for chunk in body.iter_chunks(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
            checked(sha256, digest.hexdigest())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), size

    def stored(self) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if is_sha256(item["Key"]):
                    yield item["Key"]


def _read_then_remove(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as blob:
            yield from chunks_of(blob)
    finally:
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@cache
def _s3_client(endpoint_url: str | None):
    import boto3  # only deployments that choose S3 pay for importing it

    return boto3.client("s3", endpoint_url=endpoint_url)


def blob_store() -> BlobStore:
    """The store `DOCUMENTS_STORAGE` names: `local` (default, `DOCUMENTS_STORAGE_DIR`) or `s3`."""
    kind = env("DOCUMENTS_STORAGE", "local")
    root = Path(env("DOCUMENTS_STORAGE_DIR", str(var_dir() / "documents")))
    if kind == "local":
        return LocalBlobStore(root, max_upload_bytes())
    if kind == "s3":
        bucket = env("DOCUMENTS_S3_BUCKET", "")
        if not bucket:
            raise RuntimeError("DOCUMENTS_STORAGE=s3 needs DOCUMENTS_S3_BUCKET")
        client = _s3_client(env("DOCUMENTS_S3_ENDPOINT_URL", "") or None)
        return S3BlobStore(client, bucket, root / "tmp", max_upload_bytes())
    raise RuntimeError(f"DOCUMENTS_STORAGE must be local or s3, not {kind!r}")
