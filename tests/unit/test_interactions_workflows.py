"""The ticket and deal workflows as plain state machines."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from crm_kernel.errors import Conflict, ValidationFailed
from interactions.workflow import (
    DEAL_STAGES,
    TICKET_STATUSES,
    deal_move_allowed,
    ticket_move_allowed,
    transition_deal,
    transition_ticket,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TICKET_ALLOWED = {
    ("new", "open"),
    ("open", "pending"),
    ("pending", "open"),
    ("open", "resolved"),
    ("resolved", "closed"),
    ("resolved", "open"),
    ("closed", "open"),
}


@pytest.mark.parametrize("from_status", TICKET_STATUSES)
@pytest.mark.parametrize("to_status", TICKET_STATUSES)
def test_the_ticket_workflow_allows_exactly_the_documented_moves(from_status, to_status):
    assert ticket_move_allowed(from_status, to_status) == ((from_status, to_status) in TICKET_ALLOWED)


def ticket(status, resolved_at=None):
    return SimpleNamespace(status=status, resolved_at=resolved_at)


def test_resolving_a_ticket_stamps_resolved_at_and_reopening_clears_it():
    worked = ticket("open")

    assert transition_ticket(worked, "resolved", NOW) == "open"
    assert (worked.status, worked.resolved_at) == ("resolved", NOW)
    transition_ticket(worked, "open", NOW)
    assert (worked.status, worked.resolved_at) == ("open", None)


def test_a_move_the_workflow_does_not_allow_is_a_conflict_naming_it():
    fresh = ticket("new")

    with pytest.raises(Conflict) as refused:
        transition_ticket(fresh, "closed", NOW)

    assert "from new to closed" in refused.value.detail
    assert refused.value.errors == {"status": ["new -> closed is not allowed"]}
    assert fresh.status == "new"


DEAL_ALLOWED = {
    ("lead", "qualified"),
    ("qualified", "lead"),
    ("qualified", "proposal"),
    ("proposal", "qualified"),
    ("proposal", "negotiation"),
    ("negotiation", "proposal"),
    ("proposal", "won"),
    ("negotiation", "won"),
    ("lost", "lead"),
} | {(stage, "lost") for stage in ("lead", "qualified", "proposal", "negotiation")}


@pytest.mark.parametrize("from_stage", DEAL_STAGES)
@pytest.mark.parametrize("to_stage", DEAL_STAGES)
def test_the_pipeline_allows_exactly_the_documented_moves(from_stage, to_stage):
    assert deal_move_allowed(from_stage, to_stage) == ((from_stage, to_stage) in DEAL_ALLOWED)


def deal(stage):
    return SimpleNamespace(stage=stage, lost_reason=None)


def test_losing_a_deal_needs_a_reason():
    open_deal = deal("proposal")

    with pytest.raises(ValidationFailed) as refused:
        transition_deal(open_deal, "lost", "  ")

    assert list(refused.value.errors) == ["lost_reason"]
    assert open_deal.stage == "proposal"
    assert transition_deal(open_deal, "lost", "too expensive") == "proposal"
    assert (open_deal.stage, open_deal.lost_reason) == ("lost", "too expensive")


def test_a_won_deal_is_final_and_a_reopened_lost_deal_forgets_its_reason():
    with pytest.raises(Conflict) as refused:
        transition_deal(deal("won"), "negotiation", None)
    assert refused.value.errors == {"stage": ["won -> negotiation is not allowed"]}

    lost = SimpleNamespace(stage="lost", lost_reason="no budget")
    transition_deal(lost, "lead", None)
    assert (lost.stage, lost.lost_reason) == ("lead", None)
