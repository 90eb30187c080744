"""`python -m documents.collect`: find, and with `--delete` remove, blobs no document version references.

A blob is stored (`PUT /blobs`) before the document that points at it is committed, so an upload cut
off between the two (the gateway killed, the client gone, the commit refused) leaves content that
nothing references. This command lists such blobs older than a grace period, and spool files that
an upload killed mid-stream left behind; with `--delete` it removes them. It is a dry run by default.

    python -m documents.collect                          # what would go, deleting nothing
    python -m documents.collect --delete                 # remove it
    python -m documents.collect --delete --grace-hours 6

The grace period (default 24 h) keeps the blob of an upload in flight: it is stored a moment before
its document commits. Each blob's references are read again just before it is deleted. It reads the
database and blob store the documents service uses (`DOCUMENTS_DATABASE_URL`, `DOCUMENTS_STORAGE`...).
Operators schedule it: `deploy/k8s/base/documents-collect.yaml` is a daily Kubernetes CronJob.
"""

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import exists, or_, select, union
from sqlalchemy.orm import Session

from crm_kernel.config import database_url
from crm_kernel.db import get_engine
from documents.models import Document, DocumentVersion
from documents.storage import BlobStore, LocalBlobStore, S3BlobStore, blob_store, is_sha256

DEFAULT_GRACE = timedelta(hours=24)


@dataclass
class Collection:
    """What one run found (and, unless a dry run, removed)."""

    dry_run: bool
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (sha256, size) unreferenced, past the grace
    spools: list[Path] = field(default_factory=list)  # temporary files of uploads that never finished
    kept_referenced: int = 0  # blobs some version references
    kept_young: int = 0  # unreferenced, but within the grace period (an upload may be in flight)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.blobs)


def blobs_with_age(store: BlobStore) -> Iterator[tuple[str, int, datetime]]:
    """(sha256, size, last modified) of every blob held."""
    if isinstance(store, LocalBlobStore):
        for sha256 in store.stored():
            stat = store.path_of(sha256).stat()
            yield sha256, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)
    elif isinstance(store, S3BlobStore):
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
            for item in page.get("Contents", []):
                if is_sha256(item["Key"]):
                    yield item["Key"], item["Size"], item["LastModified"]
    else:
        raise TypeError(f"no way to list the blobs of {type(store).__name__}")


def spool_dir(store: BlobStore) -> Path:
    return store.root / "tmp" if isinstance(store, LocalBlobStore) else store.spool_dir


def referenced(session: Session) -> set[str]:
    """Every SHA-256 some version (or some document's current content) points at."""
    return set(session.scalars(union(select(DocumentVersion.sha256), select(Document.sha256))))


def still_referenced(session: Session, sha256: str) -> bool:
    session.rollback()  # a fresh snapshot: a document committed since the first read counts
    versions = exists().where(DocumentVersion.sha256 == sha256)
    documents = exists().where(Document.sha256 == sha256)
    return bool(session.scalar(select(or_(versions, documents))))


def delete_blob(store: BlobStore, sha256: str, grace: timedelta, now: datetime) -> bool:
    """Remove one blob unless it was stored again meanwhile (a new upload of the same bytes)."""
    if isinstance(store, LocalBlobStore):
        path = store.path_of(sha256)
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) > now - grace:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True
    store.client.delete_object(Bucket=store.bucket, Key=sha256)
    return True


def collect(session: Session, store: BlobStore, grace: timedelta = DEFAULT_GRACE, delete: bool = False,
            now: datetime | None = None) -> Collection:  # fmt: skip
    now = now or datetime.now(UTC)
    found = Collection(dry_run=not delete)
    # Listed before the references are read: a blob stored and referenced in between counts as referenced.
    held = list(blobs_with_age(store))
    used = referenced(session)
    for sha256, size, modified in held:
        if sha256 in used:
            found.kept_referenced += 1
        elif modified > now - grace:
            found.kept_young += 1
        elif not delete or (not still_referenced(session, sha256) and delete_blob(store, sha256, grace, now)):
            found.blobs.append((sha256, size))
    spools = spool_dir(store)
    for path in sorted(spools.iterdir()) if spools.is_dir() else []:
        if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) <= now - grace:
            if delete:
                path.unlink(missing_ok=True)
            found.spools.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m documents.collect", description=__doc__.splitlines()[0])
    parser.add_argument("--delete", action="store_true", help="remove what is found (default: only list it)")
    parser.add_argument("--grace-hours", type=float, default=DEFAULT_GRACE.total_seconds() / 3600,
                        help="leave blobs younger than this alone (default 24)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.grace_hours < 0:
        parser.error("--grace-hours must not be negative")
    with Session(get_engine(database_url("documents"))) as session:
        found = collect(session, blob_store(), timedelta(hours=args.grace_hours), delete=args.delete)
    verb = "would delete" if found.dry_run else "deleted"
    for sha256, size in found.blobs:
        print(f"{verb} blob {sha256} ({size} bytes): no version references it")
    for path in found.spools:
        print(f"{verb} spool file {path.name}: an upload that never finished")
    print(
        f"{verb} {len(found.blobs)} unreferenced blobs ({found.freed_bytes} bytes) and {len(found.spools)} spool "
        f"files; kept {found.kept_referenced} referenced and {found.kept_young} younger than "
        f"{args.grace_hours:g} h" + ("; dry run, run with --delete to remove them" if found.dry_run else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
