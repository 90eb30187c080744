"""The contacts service's tables."""

from contextlib import nullcontext
from datetime import datetime

from sqlalchemy import DDL, JSON, Boolean, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session, relationship

from contacts.normalise import search_text
from crm_kernel.db import Entity, UTCDateTime, new_id, utcnow
from crm_kernel.idempotency import IdempotentWriteMixin
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


def _entity_id(context) -> str | None:
    return (context.get_current_parameters()["payload"].get("entity") or {}).get("id")


class OutboxEvent(OutboxMixin, Base):
    """The outbox, which is also the audit trail: `entity_id` (filled from the payload) finds a record's history."""

    entity_id: Mapped[str | None] = mapped_column(String(32), index=True, default=_entity_id)


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class IdempotentWrite(IdempotentWriteMixin, Base):
    pass


class Company(Entity, Base):
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


def _where(condition: str) -> dict:
    """A partial index's condition, for both engines."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Contact(Entity, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # Substring search: a trigram GIN index on PostgreSQL (pg_trgm); a plain index on SQLite.
        Index(
            "ix_contacts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # Every list is of live contacts, newest first, paged by (created_at, id): one index walked
        # backwards answers it, and a search for a common word filters its rows in that order.
        Index("ix_contacts_live_created", "created_at", "id", **_where("deleted_at IS NULL")),
        # The other sorts of a list, and an agent's own contacts in page order (their scope is `owner_id =
        # me`): without these a million-row page sorted every row, or walked them all for a new agent.
        Index("ix_contacts_live_last_name", "last_name", "id", **_where("deleted_at IS NULL")),
        Index("ix_contacts_live_first_name", "first_name", "id", **_where("deleted_at IS NULL")),
        Index("ix_contacts_live_owner_created", "owner_id", "created_at", "id", **_where("deleted_at IS NULL")),
        # Nearly every row has no deletion time and no merge target: indexing those NULLs costs every
        # insert of an import and answers no query.
        Index("ix_contacts_deleted_at", "deleted_at", **_where("deleted_at IS NOT NULL")),
        Index("ix_contacts_merged_into", "merged_into", **_where("merged_into IS NOT NULL")),
    )

    first_name: Mapped[str] = mapped_column(String(200), nullable=False)
    last_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    emails: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    phones: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    company_id: Mapped[str | None] = mapped_column(String(32), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(32))  # see __table_args__
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    tag_rows: Mapped[list["ContactTag"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ContactTag.tag"
    )
    # Loaded when a write recomputes them (`refresh_search_text`); no read shows them.
    key_rows: Mapped[list["ContactKey"]] = relationship(cascade="all, delete-orphan", lazy="select")
    attributes: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    marketing_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Normalised names, e-mails, phones and company name (see normalise.search_text): what `q` matches.
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)  # see __table_args__
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[str | None] = mapped_column(String(32))

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self.tag_rows = [ContactTag(tag=tag) for tag in sorted(set(tags))]

    def refresh_search_text(self, company_name: str | None = None) -> None:
        """Recompute what finds this contact: the search text and the duplicate-matching keys."""
        self.search_text = search_text(self.first_name, self.last_name, self.emails, self.phones, company_name)
        wanted = set(contact_keys(self.emails, self.phones))
        session = object_session(self)
        with session.no_autoflush if session is not None else nullcontext():  # one UPDATE, one version
            kept = [row for row in self.key_rows if row.key in wanted]
        have = {row.key for row in kept}
        self.key_rows = kept + [ContactKey(key=key) for key in sorted(wanted - have)]


# SQLite answers substring search from an FTS5 index with the trigram tokenizer (see search.py): an
# external-content table over `contacts.rowid`, kept in step by triggers. SQLAlchemy does not model
# virtual tables, so `create_all` makes it from these statements and migration 0003 makes the same.
# A later migration that rebuilds `contacts` on SQLite (batch mode copies it) must rebuild the index
# too: `INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')`, and create the triggers again.
SQLITE_SEARCH_INDEX = "contacts_fts"
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE contacts_fts USING fts5("
    "search_text, content='contacts', content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN "
    "INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
    "CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
    "INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
)
for _statement in SQLITE_SEARCH_DDL:
    event.listen(Contact.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
event.listen(Contact.__table__, "before_drop", DDL("DROP TABLE IF EXISTS contacts_fts").execute_if(dialect="sqlite"))


def modelled(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's `include_name`: what a comparison with the models covers (not the FTS5 index's tables)."""
    return not (type_ == "table" and name is not None and name.startswith(SQLITE_SEARCH_INDEX))


def contact_keys(emails, phones) -> list[str]:
    """What identifies a person across records: each normalised e-mail and phone."""
    return [f"e:{e}" for e in emails] + [f"p:{p}" for p in phones]


class ContactTag(Base):
    """One tag of one contact: a row each, so that filtering by tag uses an index on any engine."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class ContactKey(Base):
    """One normalised e-mail (`e:...`) or phone (`p:+...`) of one contact: duplicates found by index."""

    __tablename__ = "contact_keys"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(260), primary_key=True, index=True)


class FieldDefinition(Entity, Base):
    """A custom field that contacts' `attributes` may carry, managed by admins."""

    __tablename__ = "contact_fields"

    key: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(10), nullable=False)
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    choices: Mapped[list] = mapped_column(JSON, nullable=False, default=list)


class Merge(Base):
    """One merge of sources into a target, with everything needed to undo it."""

    __tablename__ = "contact_merges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    target_id: Mapped[str] = mapped_column(String(32), index=True, nullable=False)
    source_ids: Mapped[list] = mapped_column(JSON, nullable=False)
    target_before: Mapped[dict] = mapped_column(JSON, nullable=False)
    sources_before: Mapped[list] = mapped_column(JSON, nullable=False)
    conflicts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    target_version_after: Mapped[int] = mapped_column(nullable=False)
    actor: Mapped[str | None] = mapped_column(String(32))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserReplica(Base):
    """From the gateway's `user.*` events: each user's department, so that an import hands contacts only
    to users the importer may see (the API's writes are checked by the gateway, which owns users)."""

    __tablename__ = "user_replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class ContactImport(Base):
    """One CSV import: who ran it, how it matched rows, where it got to, and its report.

    `department_id` is the importer's department, so that their managers see the import too.
    """

    __tablename__ = "contact_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    actor: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(10), nullable=False)
    match_by: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # running, completed, failed, refused, undone
    report: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    problem: Mapped[str | None] = mapped_column(Text)  # why it stopped, when it did not complete
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undo_report: Mapped[dict | None] = mapped_column(JSON)
    # A running import's claim, renewed with every batch it commits; past it, its process is taken as gone.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactImportChange(Base):
    """A contact an import created or changed: enough to undo it while nobody has changed it since.

    `before` holds the values of the fields the import changed, as they were before its first change
    (None for a contact it created); `version_after` is the contact's version after its last change.
    """

    __tablename__ = "contact_import_changes"

    import_id: Mapped[str] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    version_after: Mapped[int] = mapped_column(nullable=False)
