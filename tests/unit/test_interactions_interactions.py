"""Interactions through the service's methods: requirements, search, versions, soft delete."""

import pytest
from interactions_world import (
    call,
    events,
)

from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_an_interaction_keeps_the_customers_requirements_in_a_structured_form(service):
    requirements = [{"topic": "Delivery", "detail": "only mornings", "priority": "high"}, {"topic": "Invoice"}]

    created = service.create_interaction(call(requirements=requirements))

    assert created["requirements"] == [
        {"topic": "Delivery", "detail": "only mornings", "priority": "high"},
        {"topic": "Invoice", "detail": "", "priority": "normal"},
    ]
    assert created["occurred_at"] == "2026-03-10T09:15:00+00:00"
    assert events(service, "interaction.created")[0]["entity"]["requirements"] == created["requirements"]


def test_a_requirement_with_an_unknown_priority_is_refused_and_nothing_is_written(service):
    with pytest.raises(ValidationFailed) as refused:
        service.create_interaction(call(requirements=[{"topic": "Delivery", "priority": "asap"}]))

    assert refused.value.errors == {"requirements": {0: {"priority": ["Must be one of: low, normal, high."]}}}
    assert events(service) == []


def test_interactions_are_found_by_subject_body_and_requirements(service):
    late = service.create_interaction(call(subject="Late delivery"))
    wants = service.create_interaction(
        call(subject="Call", requirements=[{"topic": "Pricing", "detail": "Wants VOLUME discount"}])
    )
    service.create_interaction(call(subject="Unrelated", body="nothing to see"))

    assert [i["id"] for i in service.list_interactions({"q": "DELIVERY"})["items"]] == [late["id"]]
    assert [i["id"] for i in service.list_interactions({"q": "volume disc"})["items"]] == [wants["id"]]
    assert [i["id"] for i in service.list_interactions({"q": "pricing"})["items"]] == [wants["id"]]


def test_an_interaction_changes_only_at_the_version_the_caller_read(service):
    created = service.create_interaction(call())

    changed = service.update_interaction(created["id"], {"outcome": "refund promised"}, 1)
    with pytest.raises(PreconditionFailed):
        service.update_interaction(created["id"], {"outcome": "lost"}, 1)

    assert (changed["version"], changed["outcome"]) == (2, "refund promised")
    assert events(service, "interaction.updated")[0]["changes"] == {"outcome": [None, "refund promised"]}
    assert service.get_interaction(created["id"])["outcome"] == "refund promised"


def test_a_deleted_interaction_leaves_reads_and_lists_but_its_history_stays(service):
    created = service.create_interaction(call())

    service.delete_interaction(created["id"], 1)

    with pytest.raises(NotFound):
        service.get_interaction(created["id"])
    assert service.list_interactions({})["items"] == []
    assert [e["type"] for e in events(service)] == ["interaction.created", "interaction.deleted"]
