"""Tickets: requests and complaints worked through a workflow, against an SLA in working hours."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.known_contacts import require_contact
from interactions.models import DepartmentReplica, Ticket, TicketComment, UserReplica
from interactions.schemas import (
    TICKET_SORTS,
    CommentQuerySchema,
    CommentSchema,
    TicketQuerySchema,
    TicketSchema,
    TicketTransitionSchema,
    assign,
)
from interactions.sla_policies import ticket_due_time
from interactions.workflow import OPEN_TICKET_STATUSES, transition_ticket

BREACH_SCAN_LIMIT = 200  # tickets escalated per scan; the next scan takes the rest


def create(db: Session, scope: Scope, data: dict, *, events, contacts) -> dict:
    fields = load(TicketSchema(), data)
    check_placement(db, scope, Ticket, fields)
    require_contact(contacts, fields["contact_id"])
    ticket = Ticket(**fields, status="new", created_at=utcnow())
    ticket.sla_due_at = ticket_due_time(db, ticket)
    db.add(ticket)
    db.flush()
    dumped = TicketSchema().dump(ticket)
    events.add(db, "ticket.created", dumped)
    return dumped


def get(db: Session, scope: Scope, ticket_id: str) -> dict:
    return TicketSchema().dump(visible_or_404(db, Ticket, ticket_id, scope))


def update(db: Session, scope: Scope, ticket_id: str, changes: dict, expected_version, *, events, contacts) -> dict:
    """Change the fields sent; a new priority or department restarts nothing but re-reads the SLA terms."""
    ticket = visible_or_404(db, Ticket, ticket_id, scope, expected_version)
    fields = load(TicketSchema(), changes, partial=True)
    check_placement(db, scope, Ticket, fields)
    if "contact_id" in fields:
        require_contact(contacts, fields["contact_id"])
    changed = assign(ticket, TicketSchema(), fields)
    if not changed:
        return TicketSchema().dump(ticket)
    ticket.updated_at = utcnow()
    if {"priority", "department_id"} & set(changed):  # another clock: same start, new terms
        before = TicketSchema().dump(ticket)["sla_due_at"]
        ticket.sla_due_at = ticket_due_time(db, ticket)
        after = TicketSchema().dump(ticket)["sla_due_at"]
        if before != after:
            changed["sla_due_at"] = [before, after]
    flush_or_stale(db, ticket)
    dumped = TicketSchema().dump(ticket)
    events.add(db, "ticket.updated", dumped, changes=changed)
    return dumped


def delete(db: Session, scope: Scope, ticket_id: str, expected_version, *, events) -> None:
    ticket = visible_or_404(db, Ticket, ticket_id, scope, expected_version)
    ticket.deleted_at = utcnow()
    flush_or_stale(db, ticket)
    events.add(db, "ticket.deleted", TicketSchema().dump(ticket))


def page(db: Session, scope: Scope, query: dict) -> dict:
    params = load(TicketQuerySchema(), query)
    stmt = scoped(select(Ticket).where(Ticket.deleted_at.is_(None)), Ticket, scope)
    for name in ("contact_id", "assignee_id", "department_id", "status", "priority"):
        if params[name]:
            stmt = stmt.where(getattr(Ticket, name) == params[name])
    rows, next_cursor = keyset_page(
        db, stmt, Ticket, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=TICKET_SORTS
    )
    return {"items": TicketSchema(many=True).dump(rows), "next_cursor": next_cursor}


def comment(db: Session, scope: Scope, ticket_id: str, data: dict, *, events) -> dict:
    """Add a comment; the first customer-facing one is the ticket's first response."""
    ticket = visible_or_404(db, Ticket, ticket_id, scope)
    added = TicketComment(ticket_id=ticket.id, created_at=utcnow(), **load(CommentSchema(), data))
    db.add(added)
    if not added.internal and ticket.first_response_at is None:
        ticket.first_response_at = added.created_at
    ticket.updated_at = utcnow()
    flush_or_stale(db, ticket)
    dumped = CommentSchema().dump(added)
    events.add(db, "ticket.commented", TicketSchema().dump(ticket), comment=dumped)
    return dumped


def comments_page(db: Session, scope: Scope, ticket_id: str, query: dict) -> dict:
    """A page of the ticket's comments (`limit`, `cursor`), oldest first unless `sort` says otherwise."""
    params = load(CommentQuerySchema(), query)
    ticket = visible_or_404(db, Ticket, ticket_id, scope)
    rows, next_cursor = keyset_page(
        db,
        select(TicketComment).where(TicketComment.ticket_id == ticket.id),
        TicketComment,
        limit=params["limit"],
        cursor=params["cursor"],
        sort=params["sort"],
        sortable=("created_at",),
    )
    return {"items": CommentSchema(many=True).dump(rows), "next_cursor": next_cursor}


def transition(db: Session, scope: Scope, ticket_id: str, data: dict, expected_version, *, events) -> dict:
    """Move the ticket through its workflow (`workflow.TICKET_MOVES`); a move not allowed is a 409."""
    to_status = load(TicketTransitionSchema(), data)["status"]
    ticket = visible_or_404(db, Ticket, ticket_id, scope, expected_version)
    from_status = transition_ticket(ticket, to_status, utcnow())
    ticket.updated_at = utcnow()
    flush_or_stale(db, ticket)
    dumped = TicketSchema().dump(ticket)
    events.add(db, "ticket.transitioned", dumped, from_status=from_status, to_status=to_status)
    return dumped


def escalate_breaches(db: Session, *, events) -> int:
    """Mark open tickets past their SLA as breached, escalate each to its department's manager, and
    announce each once; returns how many."""
    overdue = db.scalars(
        select(Ticket)
        .where(
            Ticket.status.in_(OPEN_TICKET_STATUSES),
            Ticket.deleted_at.is_(None),
            Ticket.breached_at.is_(None),
            Ticket.sla_due_at <= utcnow(),
        )
        .order_by(Ticket.sla_due_at)
        .limit(BREACH_SCAN_LIMIT)
        .with_for_update(skip_locked=True)  # replicas of the service never both escalate one ticket
    ).all()
    for ticket in overdue:
        ticket.breached_at = ticket.sla_due_at
        ticket.escalated_to = department_manager(db, ticket.department_id)
        ticket.updated_at = utcnow()
        db.flush()
        dumped = TicketSchema().dump(ticket)
        events.add(
            db, "ticket.sla_breached", dumped, breached_at=dumped["breached_at"], escalated_to=ticket.escalated_to
        )
    return len(overdue)


def department_manager(db: Session, department_id: str | None) -> str | None:
    """Who a breached ticket escalates to: an active manager of its department, else of the nearest
    department above it; the one with the smallest e-mail when several. None when nobody manages
    the branch."""
    seen = set()
    while department_id is not None and department_id not in seen:
        seen.add(department_id)
        manager = db.scalar(
            select(UserReplica.id)
            .where(UserReplica.department_id == department_id, UserReplica.role == "manager", UserReplica.active)
            .order_by(UserReplica.email, UserReplica.id)
            .limit(1)
        )
        if manager is not None:
            return manager
        department = db.get(DepartmentReplica, department_id)
        department_id = department.parent_id if department is not None else None
    return None
