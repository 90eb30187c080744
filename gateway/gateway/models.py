"""The gateway's tables: identity (departments and users), and its outbox."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import Entity, UTCDateTime, utcnow
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
    # Tokens name the generation they were issued in; logging out or disabling moves it on.
    token_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class LoginThrottle(Base):
    """Failed logins per account or per address, to slow guessing down."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first response to a POST with an `Idempotency-Key`, replayed when the request is retried."""

    __tablename__ = "idempotency_records"

    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    # The gateway process serving the request (`gateway_instances.id`); empty in records made before.
    owner: Mapped[str | None] = mapped_column(String(32))


class GatewayInstance(Base):
    """A running gateway process and when it last said so: an unfinished idempotency record whose
    owner stopped beating is taken over at once (`gateway.instances`)."""

    __tablename__ = "gateway_instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
