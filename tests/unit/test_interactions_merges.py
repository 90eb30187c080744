"""A contact merge, as the service consumes it: every record of the sources points at the target."""

import pytest
from interactions_world import (
    deal_data,
    document_event,
)

from crm_kernel.outbox import make_event
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_a_merge_points_every_record_of_the_sources_at_the_target_once(service):
    interaction = service.create_interaction(
        {"contact_id": "src", "channel": "email", "occurred_at": "2026-01-01T10:00:00Z"}
    )
    ticket = service.create_ticket({"contact_id": "src", "subject": "s"})
    deal = service.create_deal(deal_data(contact_id="src2"))
    task = service.create_task({"title": "t", "contact_id": "src"})
    campaign = service.create_campaign({"name": "c"})
    service.record_campaign_response(campaign["id"], {"contact_id": "src", "kind": "opened"})
    service.on_document_created(document_event("doc1", "src", "2026-01-01T10:00:00+00:00"))
    merged = make_event("contact.merged", {"id": "target"}, {}, source_ids=["src", "src2"], merge_id="m1")

    service.on_contact_merged(merged)
    service.on_contact_merged(merged)  # a redelivery changes nothing

    assert service.get_interaction(interaction["id"])["contact_id"] == "target"
    assert service.get_ticket(ticket["id"])["contact_id"] == "target"
    assert service.get_deal(deal["id"])["contact_id"] == "target"
    assert service.get_task(task["id"])["contact_id"] == "target"
    assert service.list_campaign_responses(campaign["id"], {})["items"][0]["contact_id"] == "target"
    assert len(service.contact_timeline("target", {})["items"]) == 5
    assert service.contact_timeline("src", {})["items"] == []
    assert service.get_ticket(ticket["id"])["version"] == 2  # its ETag changed with it
