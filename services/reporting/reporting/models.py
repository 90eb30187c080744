"""The reporting read models: built only from events, never from another service's tables."""

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import UTCDateTime, utcnow
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Fact(Base):
    """One countable occurrence for a KPI (a contact created, an interaction logged, ...)."""

    __tablename__ = "facts"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kpi: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    dimensions: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Department(Base):
    """Replica of the gateway's departments, kept from `department.*` events."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    deleted: Mapped[bool] = mapped_column(nullable=False, default=False)
