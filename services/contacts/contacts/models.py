"""The contacts service's tables."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm_kernel.db import Entity, UTCDateTime
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Contact(Entity, Base):
    __tablename__ = "contacts"

    first_name: Mapped[str] = mapped_column(String(200), nullable=False)
    last_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    emails: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    phones: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    company_id: Mapped[str | None] = mapped_column(String(32), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    tag_rows: Mapped[list["ContactTag"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ContactTag.tag"
    )
    attributes: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    marketing_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Lower-cased names, e-mails and phones, so that `q` is one indexed column to match.
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self.tag_rows = [ContactTag(tag=tag) for tag in sorted(set(tags))]

    def refresh_search_text(self) -> None:
        parts = [self.first_name or "", self.last_name or "", *(self.emails or []), *(self.phones or [])]
        self.search_text = " ".join(p.lower() for p in parts if p)


class ContactTag(Base):
    """One tag of one contact: a row each, so that filtering by tag uses an index on any engine."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)
