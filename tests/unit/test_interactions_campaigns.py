"""Campaigns through the service's methods: responses, and consent for an offer sent."""

import pytest
from interactions_world import (
    events,
    known_contacts,
)

from crm_kernel.errors import ValidationFailed
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


@pytest.fixture
def contacts(monkeypatch):
    return known_contacts(monkeypatch)


def test_an_offer_is_sent_only_to_contacts_who_agreed_to_marketing_as_the_contacts_service_says(service, contacts):
    campaign = service.create_campaign({"name": "Spring", "offer": "10% off", "department_id": "d1"})

    with pytest.raises(ValidationFailed) as refused:
        service.record_campaign_response(campaign["id"], {"contact_id": "c2", "kind": "sent"}, True)
    service.record_campaign_response(campaign["id"], {"contact_id": "c1", "kind": "sent"})
    service.record_campaign_response(campaign["id"], {"contact_id": "c1", "kind": "opened"})
    service.record_campaign_response(campaign["id"], {"contact_id": "c2", "kind": "converted"})

    assert refused.value.errors == {"contact_id": ["no marketing consent"]}
    assert str(refused.value) == "contact c2 has not agreed to marketing; the offer cannot be sent"
    responses = service.list_campaign_responses(campaign["id"], {})
    assert [r["kind"] for r in responses["items"]] == ["converted", "opened", "sent"]
    assert responses["counts"] == {"sent": 1, "opened": 1, "clicked": 0, "replied": 0, "converted": 1, "declined": 0}
    recorded = events(service, "campaign.response_recorded")
    assert [e["entity"]["department_id"] for e in recorded] == ["d1", "d1", "d1"]
