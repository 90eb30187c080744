"""Events travel from one service's outbox to another's read model over RabbitMQ."""

import json

import pika
from contacts_stub import ContactsStub
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crm_kernel.db import new_id, utcnow
from crm_kernel.scope import SCOPE, Scope


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def contact(**fields):
    return {"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"], **fields}


def test_a_created_contact_is_counted_by_reporting(start):
    contacts, reporting = start("contacts", "reporting")
    with (
        entrypoint_waiter(reporting, "on_contact_created", timeout=10),
        entrypoint_hook(contacts, "create_contact", context_data=system()) as create_contact,
    ):
        created = create_contact(contact())
    with entrypoint_hook(reporting, "kpis", context_data=system()) as kpis:
        report = kpis({})
    assert created["id"]
    assert report["kpis"]["contacts_created"] == 1
    assert report["fresh_as_of"] is not None


def test_an_interaction_is_counted_by_reporting(start, container_factory):
    container_factory(ContactsStub).start()
    interactions, reporting = start("interactions", "reporting")
    with (
        entrypoint_waiter(reporting, "on_interaction_created", timeout=10),
        entrypoint_hook(interactions, "create_interaction", context_data=system()) as create,
    ):
        create({"contact_id": "c1", "channel": "call", "occurred_at": utcnow().isoformat()})
    with entrypoint_hook(reporting, "kpis", context_data=system()) as kpis:
        assert kpis({})["kpis"]["interactions"] == 1


def test_a_redelivered_event_is_applied_once(start, rabbit_config):
    (reporting,) = start("reporting")
    event = {
        "event_id": new_id(),
        "type": "contact.created",
        "occurred_at": utcnow().isoformat(),
        "actor": "u1",
        "request_id": "r1",
        "entity": {"id": new_id(), "created_at": utcnow().isoformat(), "owner_id": None, "department_id": None},
    }
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    for _ in range(2):
        with entrypoint_waiter(reporting, "on_contact_created", timeout=10):
            channel.basic_publish(
                "contacts.events",
                "contact.created",
                json.dumps(event),
                pika.BasicProperties(content_type="application/json", delivery_mode=2),
            )
    connection.close()
    with entrypoint_hook(reporting, "kpis", context_data=system()) as kpis:
        assert kpis({})["kpis"]["contacts_created"] == 1


def test_events_carry_the_request_id_and_actor_of_the_call(start, rabbit_config):
    (contacts,) = start("contacts")
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "contacts.events", "contact.created")
    with entrypoint_hook(
        contacts, "create_contact", context_data={"request_id": "req-42", "actor": "u-7"} | system()
    ) as create:
        created = create(contact())
    body, headers = None, {}
    for method, properties, payload in channel.consume(queue, inactivity_timeout=10):
        assert method is not None, "no event arrived within 10 s"
        body, headers = json.loads(payload), properties.headers
        break
    connection.close()
    assert body["entity"]["id"] == created["id"]
    assert body["request_id"] == "req-42" and body["actor"] == "u-7"
    assert headers["nameko.request_id"] == "req-42"


def test_a_service_republishes_its_history_with_the_original_event_ids(start, rabbit_config):
    (contacts,) = start("contacts")
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "contacts.events", "contact.*")
    with entrypoint_hook(contacts, "create_contact", context_data=system()) as create:
        create(contact())
    received = []
    for method, _properties, payload in channel.consume(queue, inactivity_timeout=10):
        assert method is not None, "an event did not arrive within 10 s"
        received.append(json.loads(payload))
        if len(received) == 1:
            with entrypoint_hook(contacts, "republish_events") as republish:
                assert republish() == 1
        else:
            break
    connection.close()
    first, again = received
    assert again["event_id"] == first["event_id"] and again["type"] == "contact.created"
