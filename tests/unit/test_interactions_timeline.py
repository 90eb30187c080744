"""A contact's timeline through the service's methods: every kind of record, newest first."""

import pytest
from interactions_world import (
    deal_data,
    document_event,
)

from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_a_contacts_timeline_pages_through_everything_newest_first(service):
    service.create_interaction(
        {"contact_id": "c1", "channel": "call", "occurred_at": "2020-01-01T10:00:00+00:00", "subject": "first call"}
    )
    service.on_document_created(document_event("doc1", "c1", "2021-01-01T10:00:00+00:00"))
    service.create_ticket({"contact_id": "c1", "subject": "complaint"})
    service.create_deal(deal_data())
    service.create_task({"title": "call back", "contact_id": "c1"})
    service.create_interaction({"contact_id": "c2", "channel": "call", "occurred_at": "2026-01-01T10:00:00+00:00"})

    seen, cursor = [], None
    while True:
        page = service.contact_timeline("c1", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert sorted(item["kind"] for item in seen) == ["deal", "document", "interaction", "task", "ticket"]
    assert [item["kind"] for item in seen[-2:]] == ["document", "interaction"]
    moments = [item["occurred_at"] for item in seen]
    assert moments == sorted(moments, reverse=True)
    assert seen[-1]["entity"]["subject"] == "first call"
