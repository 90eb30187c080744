"""Deals through the service's methods: the pipeline, its history, amounts and currencies."""

import pytest
from interactions_world import (
    deal_data,
    events,
)

from crm_kernel.errors import Conflict, ValidationFailed
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_a_deals_negotiation_history_can_be_replayed_with_who_and_when(service):
    deal = service.create_deal(deal_data(), "u1")
    for stage in ("qualified", "proposal", "negotiation", "won"):
        service.transition_deal(deal["id"], {"stage": stage}, "u2")

    history = service.deal_history(deal["id"])

    steps = [(item["from_stage"], item["to_stage"], item["changed_by"]) for item in history["items"]]
    assert steps == [
        (None, "lead", "u1"),
        ("lead", "qualified", "u2"),
        ("qualified", "proposal", "u2"),
        ("proposal", "negotiation", "u2"),
        ("negotiation", "won", "u2"),
    ]
    assert history["deal"]["stage"] == "won"
    assert [(e["from_stage"], e["to_stage"]) for e in events(service, "deal.stage_changed")][-1] == (
        "negotiation",
        "won",
    )


def test_an_amount_is_a_decimal_string_with_an_iso_currency(service):
    deal = service.create_deal(deal_data(amount="1250.5"))

    assert (deal["amount"], deal["currency"]) == ("1250.50", "EUR")
    with pytest.raises(ValidationFailed) as refused:
        service.create_deal(deal_data(amount=1250.5, currency="euro"))
    assert sorted(refused.value.errors) == ["amount", "currency"]


def test_a_lost_deal_names_its_reason_and_a_skipped_stage_is_a_conflict(service):
    deal = service.create_deal(deal_data())

    with pytest.raises(Conflict):
        service.transition_deal(deal["id"], {"stage": "won"})
    with pytest.raises(ValidationFailed) as refused:
        service.transition_deal(deal["id"], {"stage": "lost"})
    lost = service.transition_deal(deal["id"], {"stage": "lost", "lost_reason": "went with a competitor"})

    assert list(refused.value.errors) == ["lost_reason"]
    assert (lost["stage"], lost["lost_reason"]) == ("lost", "went with a competitor")
    assert len(service.deal_history(deal["id"])["items"]) == 2


def test_a_deals_stage_is_not_patched(service):
    deal = service.create_deal(deal_data())

    with pytest.raises(ValidationFailed) as refused:
        service.update_deal(deal["id"], {"stage": "won"})

    assert list(refused.value.errors) == ["stage"]
    assert service.get_deal(deal["id"])["stage"] == "lead"
