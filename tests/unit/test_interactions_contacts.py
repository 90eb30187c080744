"""A record of the interactions service points at a contact that exists for the caller, as the contacts
service says; when contacts cannot answer, the write is a retryable 503 and nothing is written."""

import pytest
from interactions_world import known_contacts

from crm_kernel.errors import NotFound, ServiceUnavailable, ValidationFailed
from interactions.models import Base, Deal, Interaction, OutboxEvent, Task, Ticket
from interactions.service import InteractionsService

CREATES = {
    "create_interaction": (Interaction, {"channel": "call", "occurred_at": "2026-03-10T10:15:00+01:00"}),
    "create_ticket": (Ticket, {"subject": "Broken engine"}),
    "create_deal": (Deal, {"title": "3 engines", "amount": "10", "currency": "EUR"}),
    "create_task": (Task, {"title": "Call back"}),
}


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


@pytest.fixture
def contacts(monkeypatch):
    return known_contacts(monkeypatch)


@pytest.mark.parametrize("method", CREATES)
def test_a_record_of_an_unknown_contact_is_refused_naming_contact_id_and_nothing_is_written(service, contacts, method):
    model, body = CREATES[method]

    with pytest.raises(ValidationFailed) as refused:
        getattr(service, method)({"contact_id": "no-such-contact", **body})

    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert str(refused.value) == "contact no-such-contact does not exist"
    assert service.rows(model) == [] and service.rows(OutboxEvent) == []


@pytest.mark.parametrize("method", CREATES)
def test_a_record_of_a_known_contact_is_created_after_asking_contacts_once(service, contacts, method):
    model, body = CREATES[method]

    created = getattr(service, method)({"contact_id": "c2", **body})

    assert created["contact_id"] == "c2" and contacts.asked == ["c2"]
    assert [row.id for row in service.rows(model)] == [created["id"]]


def test_moving_a_ticket_to_an_unknown_contact_is_refused_and_changes_nothing(service, contacts):
    ticket = service.create_ticket({"contact_id": "c1", "subject": "Broken engine"})

    with pytest.raises(ValidationFailed) as refused:
        service.update_ticket(ticket["id"], {"contact_id": "gone"})

    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert service.get_ticket(ticket["id"]) == ticket


def test_an_update_that_leaves_the_contact_alone_does_not_ask_contacts(service, contacts):
    task = service.create_task({"title": "Call back"})  # a task may have no contact at all
    deal = service.create_deal({"contact_id": "c1", "title": "t", "amount": "1", "currency": "EUR"})
    contacts.asked.clear()

    service.update_task(task["id"], {"title": "Call back twice"})
    service.update_deal(deal["id"], {"title": "Engines"})

    assert contacts.asked == []


def test_a_contacts_service_that_does_not_answer_is_a_retryable_503_and_nothing_is_written(service, contacts):
    contacts.down = True

    with pytest.raises(ServiceUnavailable):
        service.create_ticket({"contact_id": "c1", "subject": "Broken engine"})

    assert service.rows(Ticket) == [] and service.rows(OutboxEvent) == []


def test_a_response_of_an_unknown_contact_is_refused_whatever_its_kind(service, contacts):
    campaign = service.create_campaign({"name": "Spring"})

    with pytest.raises(ValidationFailed) as refused:
        service.record_campaign_response(campaign["id"], {"contact_id": "nobody", "kind": "opened"})

    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert service.list_campaign_responses(campaign["id"], {})["items"] == []


def test_a_response_to_a_campaign_the_caller_may_not_see_is_a_404_before_contacts_is_asked(service, contacts):
    with pytest.raises(NotFound):
        service.record_campaign_response("no-such-campaign", {"contact_id": "c1", "kind": "sent"})

    assert contacts.asked == []
