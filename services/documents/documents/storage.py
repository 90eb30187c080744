"""Content-addressed blob storage on the local filesystem.

A blob is written to a temporary file, fsynced, and renamed to its SHA-256: a crash leaves either
nothing or a whole blob, never a half one under a real name. Reads verify the checksum first, so
corrupted bytes are never served as good ones.
"""

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from prometheus_client import Counter

from crm_kernel.errors import CrmError, NotFound, PayloadTooLarge, ValidationFailed

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
CHECKSUM_FAILURES = Counter("crm_document_checksum_failures_total", "Blobs whose content failed its SHA-256.")


class ContentCorrupted(CrmError):
    status = 500
    title = "Stored content failed its integrity check"


class LocalBlobStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise NotFound(f"no blob {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        """Store what `stream` yields; return its SHA-256 and size. Refuses empty and oversized input."""
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLarge(f"the file is larger than the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            if size == 0:
                raise ValidationFailed("the file is empty", {"file": ["empty file"]})
            sha256 = digest.hexdigest()
            final = self.path_of(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
            return sha256, size
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def verify(self, sha256: str) -> int:
        """Size of the blob after checking its content against `sha256`; raises when it differs."""
        path = self.path_of(sha256)
        if not path.exists():
            raise NotFound(f"no blob {sha256}")
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as blob:
            while chunk := blob.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != sha256:
            CHECKSUM_FAILURES.inc()
            log.error("blob %s failed its checksum (got %s)", sha256, digest.hexdigest())
            raise ContentCorrupted(f"the stored content of blob {sha256} does not match its SHA-256")
        return size

    def read(self, sha256: str) -> Iterator[bytes]:
        with self.path_of(sha256).open("rb") as blob:
            while chunk := blob.read(CHUNK):
                yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
