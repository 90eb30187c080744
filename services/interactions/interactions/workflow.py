"""The ticket and deal workflows as plain state machines: which moves are allowed, and what they set."""

from datetime import datetime

from crm_kernel.errors import Conflict, ValidationFailed

TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
TICKET_MOVES = {
    "new": {"open"},
    "open": {"pending", "resolved"},
    "pending": {"open"},
    "resolved": {"closed", "open"},  # back to open: a reopen
    "closed": {"open"},  # a reopen
}
OPEN_TICKET_STATUSES = ("new", "open", "pending")

DEAL_STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
DEAL_MOVES = {
    "lead": {"qualified", "lost"},
    "qualified": {"lead", "proposal", "lost"},
    "proposal": {"qualified", "negotiation", "won", "lost"},
    "negotiation": {"proposal", "won", "lost"},
    "won": set(),  # final: a won deal that falls through is a new deal
    "lost": {"lead"},  # a reopen starts the pipeline over
}
OPEN_DEAL_STAGES = ("lead", "qualified", "proposal", "negotiation")


def ticket_move_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TICKET_MOVES.get(from_status, set())


def transition_ticket(ticket, to_status: str, now: datetime) -> str:
    """Move `ticket` to `to_status`, setting or clearing `resolved_at`; returns the status it left.

    A move the workflow does not allow is a 409 that names it.
    """
    from_status = ticket.status
    if not ticket_move_allowed(from_status, to_status):
        allowed = ", ".join(sorted(TICKET_MOVES.get(from_status, ()))) or "none"
        raise Conflict(
            f"a ticket cannot move from {from_status} to {to_status} (allowed from {from_status}: {allowed})",
            {"status": [f"{from_status} -> {to_status} is not allowed"]},
        )
    ticket.status = to_status
    if to_status == "resolved":
        ticket.resolved_at = now
    elif to_status == "open" and from_status in ("resolved", "closed"):
        ticket.resolved_at = None
    return from_status


def deal_move_allowed(from_stage: str, to_stage: str) -> bool:
    return to_stage in DEAL_MOVES.get(from_stage, set())


def transition_deal(deal, to_stage: str, lost_reason: str | None) -> str:
    """Move `deal` to `to_stage`; returns the stage it left. Losing a deal needs a reason."""
    from_stage = deal.stage
    if not deal_move_allowed(from_stage, to_stage):
        allowed = ", ".join(sorted(DEAL_MOVES.get(from_stage, ()))) or "none, it is final"
        raise Conflict(
            f"a deal cannot move from {from_stage} to {to_stage} (allowed from {from_stage}: {allowed})",
            {"stage": [f"{from_stage} -> {to_stage} is not allowed"]},
        )
    if to_stage == "lost" and not (lost_reason or "").strip():
        raise ValidationFailed("a lost deal needs a lost_reason", {"lost_reason": ["required when the stage is lost"]})
    deal.stage = to_stage
    deal.lost_reason = lost_reason.strip() if to_stage == "lost" else None
    return from_stage
