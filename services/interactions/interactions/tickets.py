"""Tickets: requests and complaints worked through a workflow, against an SLA in working hours."""

import logging

from nameko.timer import timer
from prometheus_client import Counter
from sqlalchemy import select

from crm_kernel.config import env
from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, ValidationFailed
from crm_kernel.idempotency import idempotent
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from interactions.models import DepartmentReplica, SlaPolicy, Ticket, TicketComment
from interactions.records import apply_changes, flush_or_stale
from interactions.replicas import department_manager
from interactions.schemas import (
    TICKET_SORTS,
    CommentQuerySchema,
    CommentSchema,
    SlaPolicyQuerySchema,
    SlaPolicySchema,
    TicketQuerySchema,
    TicketSchema,
    TicketTransitionSchema,
)
from interactions.sla import due_time, sla_terms
from interactions.workflow import OPEN_TICKET_STATUSES, transition_ticket

log = logging.getLogger(__name__)
SLA_BREACHES = Counter("crm_sla_breaches_total", "Tickets found past their SLA (alerting: breaches piling up).")
SLA_SCAN_SECONDS = float(env("INTERACTIONS_SLA_SCAN_SECONDS", "60"))


class TicketsRpc:
    @rpc
    @idempotent
    def create_ticket(self, data: dict) -> dict:
        fields = load(TicketSchema(), data)
        self._check_placement(Ticket, fields)
        ticket = Ticket(**fields, status="new", created_at=utcnow())
        ticket.sla_due_at = self._sla_due_at(ticket)
        self.db.add(ticket)
        self.db.flush()
        dumped = TicketSchema().dump(ticket)
        self.outbox.add(self.db, "ticket.created", dumped)
        return self.once.commit(self.db, dumped)

    @rpc
    def get_ticket(self, ticket_id: str) -> dict:
        return TicketSchema().dump(self._load(Ticket, ticket_id))

    @rpc
    def update_ticket(self, ticket_id: str, changes: dict, expected_version: int | None = None) -> dict:
        ticket = self._load(Ticket, ticket_id, expected_version)
        fields = load(TicketSchema(), changes, partial=True)
        self._check_placement(Ticket, fields)
        changed = apply_changes(ticket, TicketSchema(), fields)
        if not changed:
            return TicketSchema().dump(ticket)
        if {"priority", "department_id"} & set(changed):  # another clock: same start, new terms
            before = TicketSchema().dump(ticket)["sla_due_at"]
            ticket.sla_due_at = self._sla_due_at(ticket)
            after = TicketSchema().dump(ticket)["sla_due_at"]
            if before != after:
                changed["sla_due_at"] = [before, after]
        flush_or_stale(self.db, ticket)
        dumped = TicketSchema().dump(ticket)
        self.outbox.add(self.db, "ticket.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_ticket(self, ticket_id: str, expected_version: int | None = None) -> None:
        ticket = self._load(Ticket, ticket_id, expected_version)
        ticket.deleted_at = utcnow()
        flush_or_stale(self.db, ticket)
        self.outbox.add(self.db, "ticket.deleted", TicketSchema().dump(ticket))
        self.db.commit()

    @rpc
    def list_tickets(self, query: dict) -> dict:
        params = load(TicketQuerySchema(), query)
        stmt = self._scoped(select(Ticket).where(Ticket.deleted_at.is_(None)), Ticket)
        for name in ("contact_id", "assignee_id", "department_id", "status", "priority"):
            if params[name]:
                stmt = stmt.where(getattr(Ticket, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Ticket,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=TICKET_SORTS,
        )
        return {"items": TicketSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def comment_ticket(self, ticket_id: str, data: dict) -> dict:
        """Add a comment; the first customer-facing one is the ticket's first response."""
        ticket = self._load(Ticket, ticket_id)
        comment = TicketComment(ticket_id=ticket.id, created_at=utcnow(), **load(CommentSchema(), data))
        self.db.add(comment)
        if not comment.internal and ticket.first_response_at is None:
            ticket.first_response_at = comment.created_at
        ticket.updated_at = utcnow()
        flush_or_stale(self.db, ticket)
        dumped = CommentSchema().dump(comment)
        self.outbox.add(self.db, "ticket.commented", TicketSchema().dump(ticket), comment=dumped)
        self.db.commit()
        return dumped

    @rpc
    def list_ticket_comments(self, ticket_id: str, query: dict | None = None) -> dict:
        """A page of the ticket's comments (`limit`, `cursor`), oldest first unless `sort` says otherwise."""
        params = load(CommentQuerySchema(), query or {})
        ticket = self._load(Ticket, ticket_id)
        rows, next_cursor = keyset_page(
            self.db,
            select(TicketComment).where(TicketComment.ticket_id == ticket.id),
            TicketComment,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=("created_at",),
        )
        return {"items": CommentSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def transition_ticket(self, ticket_id: str, data: dict, expected_version: int | None = None) -> dict:
        wanted = load(TicketTransitionSchema(), data)["status"]
        ticket = self._load(Ticket, ticket_id, expected_version)
        from_status = transition_ticket(ticket, wanted, utcnow())
        ticket.updated_at = utcnow()
        flush_or_stale(self.db, ticket)
        dumped = TicketSchema().dump(ticket)
        self.outbox.add(self.db, "ticket.transitioned", dumped, from_status=from_status, to_status=wanted)
        self.db.commit()
        return dumped

    @timer(interval=SLA_SCAN_SECONDS)
    def detect_sla_breaches(self) -> int:
        """Mark open tickets past their SLA as breached, escalate them, and announce each once."""
        overdue = self.db.scalars(
            select(Ticket)
            .where(
                Ticket.status.in_(OPEN_TICKET_STATUSES),
                Ticket.deleted_at.is_(None),
                Ticket.breached_at.is_(None),
                Ticket.sla_due_at <= utcnow(),
            )
            .order_by(Ticket.sla_due_at)
            .limit(200)
            .with_for_update(skip_locked=True)  # replicas of the service never both escalate one ticket
        ).all()
        for ticket in overdue:
            ticket.breached_at = ticket.sla_due_at
            ticket.escalated_to = department_manager(self.db, ticket.department_id)
            ticket.updated_at = utcnow()
            self.db.flush()
            dumped = TicketSchema().dump(ticket)
            self.outbox.add(
                self.db,
                "ticket.sla_breached",
                dumped,
                breached_at=dumped["breached_at"],
                escalated_to=ticket.escalated_to,
            )
        self.db.commit()
        SLA_BREACHES.inc(len(overdue))
        if overdue:
            log.info("%d tickets breached their SLA", len(overdue))
        return len(overdue)

    # -- SLA policies ------------------------------------------------------------------------

    @rpc
    def create_sla_policy(self, data: dict) -> dict:
        fields = load(SlaPolicySchema(), data)
        self._check_placement(SlaPolicy, fields)
        if self.db.scalar(select(SlaPolicy).where(SlaPolicy.department_id == fields["department_id"])):
            raise Conflict(
                f"department {fields['department_id']} already has an SLA policy; change that one",
                {"department_id": ["already has a policy"]},
            )
        policy = SlaPolicy(**fields)
        self.db.add(policy)
        self.db.flush()
        dumped = SlaPolicySchema().dump(policy)
        self.outbox.add(self.db, "sla_policy.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_sla_policy(self, policy_id: str) -> dict:
        return SlaPolicySchema().dump(self._load(SlaPolicy, policy_id))

    @rpc
    def update_sla_policy(self, policy_id: str, changes: dict, expected_version: int | None = None) -> dict:
        policy = self._load(SlaPolicy, policy_id, expected_version)
        fields = load(SlaPolicySchema(), changes, partial=True)
        if fields.get("department_id", policy.department_id) != policy.department_id:
            raise Conflict("a policy belongs to its department; create one for the other", {"department_id": ["fixed"]})
        changed = apply_changes(policy, SlaPolicySchema(), fields)
        if changed:
            flush_or_stale(self.db, policy)
            self.outbox.add(self.db, "sla_policy.updated", SlaPolicySchema().dump(policy), changes=changed)
            self.db.commit()
        return SlaPolicySchema().dump(policy)

    @rpc
    def delete_sla_policy(self, policy_id: str, expected_version: int | None = None) -> None:
        """The department falls back to the default targets (for tickets opened from now on)."""
        policy = self._load(SlaPolicy, policy_id, expected_version)
        dumped = SlaPolicySchema().dump(policy)
        self.db.delete(policy)
        self.outbox.add(self.db, "sla_policy.deleted", dumped)
        self.db.commit()

    @rpc
    def list_sla_policies(self, query: dict) -> dict:
        params = load(SlaPolicyQuerySchema(), query)
        stmt = self._scoped(select(SlaPolicy), SlaPolicy)
        if params["department_id"]:
            stmt = stmt.where(SlaPolicy.department_id == params["department_id"])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            SlaPolicy,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=("created_at",),
        )
        return {"items": SlaPolicySchema(many=True).dump(rows), "next_cursor": next_cursor}

    def _sla_due_at(self, ticket: Ticket):
        department = self.db.get(DepartmentReplica, ticket.department_id) if ticket.department_id else None
        policy = self.db.scalar(select(SlaPolicy).where(SlaPolicy.department_id == ticket.department_id))
        targets, hours, tz = sla_terms(
            policy.targets if policy else None,
            policy.working_hours if policy else None,
            None if department is None or department.deleted else (department.working_hours, department.timezone),
        )
        try:
            return due_time(ticket.created_at, targets[ticket.priority], hours, tz)
        except ValueError:  # hours recorded before the weekly minimum existed
            raise ValidationFailed(
                "the department's working hours leave no time to meet its SLA target",
                {"department_id": ["its working hours are too few for the SLA target"]},
            ) from None
