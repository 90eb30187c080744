"""`python -m documents.verify`: check every blob any document version refers to; exit 1 on any failure.

Reads the version table of `DOCUMENTS_DATABASE_URL` and the blob store `DOCUMENTS_STORAGE` names,
prints one line per missing or corrupted blob and a summary, and counts failures in the same
metric as downloads do.
"""

import sys
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.config import database_url
from crm_kernel.db import get_engine
from crm_kernel.errors import NotFound
from documents.models import DocumentVersion
from documents.storage import BlobStore, ContentCorrupted, blob_store


@dataclass
class Report:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return len(self.missing) + len(self.corrupted) + len(self.wrong_size)


def verify_blobs(session: Session, store: BlobStore) -> Report:
    """Check each distinct blob referenced by a version once, against its SHA-256 and size."""
    report = Report()
    referenced = session.execute(select(DocumentVersion.sha256, DocumentVersion.size).distinct()).all()
    for sha256, size in sorted(referenced):
        report.checked += 1
        try:
            if store.verify(sha256) != size:
                report.wrong_size.append(sha256)
        except NotFound:
            report.missing.append(sha256)
        except ContentCorrupted:
            report.corrupted.append(sha256)
    return report


def main() -> int:
    with Session(get_engine(database_url("documents"))) as session:
        report = verify_blobs(session, blob_store())
    for label, shas in (
        ("missing", report.missing),
        ("corrupted", report.corrupted),
        ("wrong size", report.wrong_size),
    ):
        for sha256 in shas:
            print(f"{label}: {sha256}")
    print(f"checked {report.checked} blobs: {report.failures} failures")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
