"""The documents service's tables: metadata only; content lives in the blob store by SHA-256."""

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import Entity
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Document(Entity, Base):
    __tablename__ = "documents"

    title: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    contact_id: Mapped[str | None] = mapped_column(String(32), index=True)
    deal_id: Mapped[str | None] = mapped_column(String(32), index=True)
    ticket_id: Mapped[str | None] = mapped_column(String(32), index=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    uploaded_by: Mapped[str | None] = mapped_column(String(32))
