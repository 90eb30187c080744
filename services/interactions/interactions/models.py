"""The interactions service's tables."""

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import Entity, UTCDateTime
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Interaction(Entity, Base):
    """One contact between the company and a customer, on any channel."""

    __tablename__ = "interactions"

    contact_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outcome: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
