"""The gateway's tables: identity (departments and users), and its outbox."""

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import Entity
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Department(Entity, Base):
    """A node of the department tree, with the zone and working hours its SLA clocks run in."""

    __tablename__ = "departments"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    working_hours: Mapped[dict] = mapped_column(JSON, nullable=False)


class User(Entity, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
