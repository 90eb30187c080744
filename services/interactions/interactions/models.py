"""The interactions service's tables, and the replicas it keeps from other services' events."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from crm_kernel.db import Entity, UTCDateTime, new_id, utcnow
from crm_kernel.idempotency import IdempotentWriteMixin
from crm_kernel.outbox import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class ExactAmount(TypeDecorator):
    """A money amount stored as an integer count of 1/10000 units, exact on every engine.

    SQLite has no decimal type (NUMERIC values become floats); an integer is exact on both.
    """

    impl = BigInteger
    cache_ok = True
    SCALE = Decimal(10000)

    def process_bind_param(self, value, dialect):
        return None if value is None else int(Decimal(value) * self.SCALE)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value) / self.SCALE


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class IdempotentWrite(IdempotentWriteMixin, Base):
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
    # The customer's individual requirements: [{topic, detail, priority}].
    requirements: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # Lower-cased subject, body and requirements, so that `q` is one column to match.
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    def refresh_search_text(self) -> None:
        parts = [self.subject or "", self.body or ""]
        for requirement in self.requirements or []:
            parts += [requirement.get("topic", ""), requirement.get("detail", "")]
        self.search_text = " ".join(p.lower() for p in parts if p)


class Ticket(Entity, Base):
    """A customer's request or complaint, worked through a status workflow against an SLA."""

    __tablename__ = "tickets"

    contact_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    priority: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="new", index=True)
    assignee_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    interaction_id: Mapped[str | None] = mapped_column(String(32))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_to: Mapped[str | None] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    internal: Mapped[bool] = mapped_column(Boolean, nullable=False)
    author_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SlaPolicy(Entity, Base):
    """A department's resolution targets per priority, in working minutes, and optionally its own hours."""

    __tablename__ = "sla_policies"

    department_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    targets: Mapped[dict] = mapped_column(JSON, nullable=False)
    working_hours: Mapped[dict | None] = mapped_column(JSON)


class Deal(Entity, Base):
    __tablename__ = "deals"

    contact_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    company_id: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    amount: Mapped[Decimal] = mapped_column(ExactAmount, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    stage: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    expected_close: Mapped[date | None] = mapped_column(Date)
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class DealStageChange(Base):
    """One step of a deal through the pipeline: the negotiation history, replayable."""

    __tablename__ = "deal_stage_changes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.id"), nullable=False, index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20), nullable=False)
    changed_by: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    note: Mapped[str | None] = mapped_column(String(500))


class Task(Entity, Base):
    __tablename__ = "tasks"

    title: Mapped[str] = mapped_column(String(300), nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    assignee_id: Mapped[str | None] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open", index=True)
    contact_id: Mapped[str | None] = mapped_column(String(32), index=True)
    deal_id: Mapped[str | None] = mapped_column(String(32))
    ticket_id: Mapped[str | None] = mapped_column(String(32))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Campaign(Entity, Base):
    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    offer: Mapped[str] = mapped_column(Text, nullable=False, default="")
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class CampaignResponse(Base):
    __tablename__ = "campaign_responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), nullable=False, index=True)
    contact_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    user_id: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[str | None] = mapped_column(String(32))


# -- replicas, kept from other services' events (never written by this service's API) -------------


class DepartmentReplica(Base):
    """From `department.*`: the tree, the zone and the working hours SLA clocks honour."""

    __tablename__ = "department_replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    parent_id: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    working_hours: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class UserReplica(Base):
    """From `user.*`: who manages a department (escalation) and each user's zone (task due times)."""

    __tablename__ = "user_replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="agent")
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class DocumentReplica(Base):
    """From `document.created` / `document.updated`: what a contact's timeline shows of documents."""

    __tablename__ = "document_replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(30), nullable=False, default="other")
    status: Mapped[str] = mapped_column(String(30), nullable=False, default="draft")
    contact_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Who may see it on a timeline: the uploader, and their department (the documents service's rule).
    uploaded_by: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[str | None] = mapped_column(String(32), index=True)
