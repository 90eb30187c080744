"""The reporting read models, built only from events (never from another service's tables), and plans.

Read models (cleared and rebuilt by `python -m reporting.rebuild`): facts, the latest snapshot of each
entity the facts are derived from, the deal stage timeline, and replicas of departments and users.
Plans are reporting's own records, not a read model: a rebuild keeps them.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Computed, Float, Index, Numeric, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_kernel.db import Entity, UTCDateTime, utcnow
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


# The duration facts, and their seconds (`dimensions.seconds`) as a column the database fills itself.
DURATION_FACTS = "kpi IN ('first_response_time', 'resolution_time')"
DURATION_SECONDS = f"CASE WHEN {DURATION_FACTS} THEN CAST(dimensions ->> 'seconds' AS DOUBLE PRECISION) END"


class Fact(Base):
    """One countable occurrence for a KPI (a contact created, a ticket resolved, a deal won, ...).

    `source` is the entity it derives from (`ticket:<id>`); an entity's facts are replaced as a whole
    whenever a newer snapshot of it arrives, so updates and redeliveries never count twice.
    """

    __tablename__ = "kpi_facts"
    # A report reads one KPI's facts of a period (durations, the minutes outside the rollup's whole
    # hours) as one index range; on PostgreSQL the index carries the columns a report reads, so that
    # range is read from the index alone (the facts of one KPI are scattered over the table's pages).
    __table_args__ = (
        Index(
            "ix_kpi_facts_kpi_occurred_at",
            "kpi",
            "occurred_at",
            postgresql_include=["user_id", "department_id", "dimensions"],
        ),
        # Medians and p90s read the durations of a period from this narrow index alone, no JSON parsed.
        Index(
            "ix_kpi_facts_durations",
            "kpi",
            "occurred_at",
            postgresql_include=["user_id", "department_id", "seconds"],
            postgresql_where=text(DURATION_FACTS),
            sqlite_where=text(DURATION_FACTS),
        ),
    )

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    source: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    kpi: Mapped[str] = mapped_column(String(50), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    dimensions: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Generated (stored on PostgreSQL, virtual on SQLite): never written by the code.
    seconds: Mapped[float | None] = mapped_column(Float, Computed(DURATION_SECONDS))


class Rollup(Base):
    """Facts counted per UTC hour, KPI, user, department and breakdown (`reporting.rollup`), kept by the
    same event batch that replaces the facts; reports read it instead of every fact of their period.

    Key columns hold '' for "none" (a NULL in a primary key would never conflict, so the upsert could
    not add to the row). `hour` counts hours since 1970-01-01T00:00Z; amounts are ten-thousandths.
    """

    __tablename__ = "kpi_rollup"

    kpi: Mapped[str] = mapped_column(String(50), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String, primary_key=True)
    direction: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String, primary_key=True)
    currency: Mapped[str] = mapped_column(String, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    met: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # SLA verdicts met
    priced: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # won deals with an amount
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # their sum, ten-thousandths
    seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)  # durations summed


class Snapshot(Base):
    """The newest state of an entity seen in events (its `entity`, plus sticky extras such as
    `breached_at`), so that an older event arriving late never overwrites a newer state."""

    __tablename__ = "entity_snapshots"

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    entity: Mapped[dict] = mapped_column(JSON, nullable=False)
    deleted: Mapped[bool] = mapped_column(nullable=False, default=False)


class DealStage(Base):
    """The deal stage timeline: one row per stage a deal entered, for the funnel and time in stage."""

    __tablename__ = "deal_stages"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    stage: Mapped[str] = mapped_column(String(30), nullable=False)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Department(Base):
    """Replica of the gateway's departments, kept from `department.*` events (the tree for roll-ups)."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    deleted: Mapped[bool] = mapped_column(nullable=False, default=False)


class User(Base):
    """Replica of the gateway's users, kept from `user.*` events: whose figures roll up where."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)


class Freshness(Base):
    """The newest event applied (by when it occurred) and when it was applied: how current reports are."""

    __tablename__ = "freshness"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Plan(Entity, Base):
    """A target: `value` of `metric` for a department (its subtree) or a user, over `period`."""

    __tablename__ = "plans"

    metric: Mapped[str] = mapped_column(String(50), nullable=False)
    period: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


READ_MODELS = (Fact, Rollup, Snapshot, DealStage, Department, User, Freshness, ProcessedEvent)
