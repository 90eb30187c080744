"""The interactions service asks the contacts service, over the real RabbitMQ, whether a record's contact
exists for the caller and whether it agreed to marketing; a contacts service that does not answer in
time is a retryable 503, and nothing is written."""

import time

import pytest
from eventlet.event import Event
from nameko.testing.services import entrypoint_hook

from crm_kernel.errors import ServiceUnavailable, ValidationFailed
from crm_kernel.rpc import DEADLINE, rpc
from crm_kernel.scope import SCOPE, Scope

ADMIN = {SCOPE: Scope("admin-1", "admin", None).encode()}
BERLIN_AGENT = {SCOPE: Scope("a-berlin", "agent", "berlin", ("berlin",)).encode()}
SUPPORT_AGENT = {SCOPE: Scope("a-support", "agent", "support", ("support",)).encode()}

never = Event()


class SilentContacts:
    """A contacts service that takes requests and never answers (paused, or stuck on its database)."""

    name = "contacts"

    @rpc
    def get_contact(self, contact_id):
        never.wait()


def call(container, method, *args, context=ADMIN):
    with entrypoint_hook(container, method, context_data=context) as entrypoint:
        return entrypoint(*args)


@pytest.fixture
def services(start):
    """The real contacts and interactions services; a Berlin contact who agreed to marketing, one who did not."""
    contacts, interactions = start("contacts", "interactions")
    agreed = call(
        contacts, "create_contact", {"first_name": "Ada", "department_id": "berlin", "marketing_consent": True}
    )
    refused = call(contacts, "create_contact", {"first_name": "Grace", "department_id": "berlin"})
    return interactions, agreed["id"], refused["id"]


def test_a_ticket_for_an_existing_contact_is_created_and_an_unknown_contact_is_refused(services):
    interactions, contact_id, _ = services

    ticket = call(interactions, "create_ticket", {"contact_id": contact_id, "subject": "Broken engine"})
    with pytest.raises(ValidationFailed) as refused:
        call(interactions, "create_ticket", {"contact_id": "no-such-contact", "subject": "Broken engine"})

    assert ticket["contact_id"] == contact_id
    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert [t["id"] for t in call(interactions, "list_tickets", {})["items"]] == [ticket["id"]]


def test_a_contact_outside_the_callers_scope_reads_as_unknown(services):
    interactions, contact_id, _ = services
    deal = {"contact_id": contact_id, "title": "Engines", "amount": "10", "currency": "EUR"}

    with pytest.raises(ValidationFailed) as refused:
        call(interactions, "create_deal", deal | {"department_id": "support"}, context=SUPPORT_AGENT)
    created = call(interactions, "create_deal", deal | {"department_id": "berlin"}, context=BERLIN_AGENT)

    assert refused.value.errors == {"contact_id": ["unknown contact"]}
    assert created["contact_id"] == contact_id


def test_an_offer_is_sent_only_to_a_contact_who_agreed_to_marketing(services):
    interactions, agreed, refused = services
    campaign = call(interactions, "create_campaign", {"name": "Winter", "department_id": "berlin"})

    sent = call(interactions, "record_campaign_response", campaign["id"], {"contact_id": agreed, "kind": "sent"})
    with pytest.raises(ValidationFailed) as denied:
        call(interactions, "record_campaign_response", campaign["id"], {"contact_id": refused, "kind": "sent"})

    assert sent["contact_id"] == agreed
    assert denied.value.errors == {"contact_id": ["no marketing consent"]}
    assert call(interactions, "list_campaign_responses", campaign["id"], {})["counts"]["sent"] == 1


def test_a_contacts_service_that_does_not_answer_by_the_callers_deadline_is_a_503_and_nothing_is_written(
    start, container_factory
):
    container_factory(SilentContacts).start()
    (interactions,) = start("interactions")
    in_a_second = ADMIN | {DEADLINE: str(time.time() + 1)}  # as the gateway sends it

    with pytest.raises(ServiceUnavailable, match="contacts service did not answer"):
        call(interactions, "create_task", {"title": "Call back", "contact_id": "c1"}, context=in_a_second)

    assert call(interactions, "list_tasks", {})["items"] == []


def test_a_contacts_service_that_does_not_answer_within_the_rpc_timeout_is_a_503(start, container_factory, monkeypatch):
    monkeypatch.setenv("CRM_RPC_TIMEOUT", "0.5")  # read when the service's container is made
    container_factory(SilentContacts).start()
    (interactions,) = start("interactions")

    with pytest.raises(ServiceUnavailable, match="did not answer within 0.5s"):
        call(interactions, "create_interaction", {"contact_id": "c1", "channel": "call"})

    assert call(interactions, "list_interactions", {})["items"] == []
