"""Each service runs on a RabbitMQ user of its own that can do its work and nothing of another's."""

import json
import uuid

import pika
import pytest
from contacts_stub import ContactsStub
from nameko import config
from nameko.standalone.rpc import ClusterRpcClient
from nameko.testing.services import entrypoint_waiter
from pika.exceptions import ChannelClosedByBroker

from crm_kernel.outbox import make_event
from crm_kernel.scope import SCOPE, Scope
from crm_kernel.topology import service_class


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def channel_of(uri: str):
    return pika.BlockingConnection(pika.URLParameters(uri)).channel()


def test_interactions_works_on_its_own_user_consuming_serving_and_publishing(
    prepared, container_factory, rabbit_config, broker_user, monkeypatch
):
    admin = rabbit_config["AMQP_URI"]
    prepared("interactions")  # migrations and event queues with the deploy's user, as a deploy does
    probe = channel_of(admin)  # a queue of the test's own on what interactions publishes
    probe.exchange_declare("interactions.events", "topic", durable=True)
    seen = probe.queue_declare("", exclusive=True).method.queue
    probe.queue_bind(seen, "interactions.events", "ticket.created")

    container_factory(ContactsStub).start()  # on the admin user: it answers whether a contact exists
    own = broker_user("interactions")
    monkeypatch.setenv("AMQP_URI", own)
    with config.patch({"AMQP_URI": own}):
        interactions = container_factory(service_class("interactions"))
        interactions.start()
        department = {"id": "d1", "name": "Sales", "parent_id": None, "timezone": "UTC", "working_hours": {}}
        with entrypoint_waiter(interactions, "on_department_created", timeout=10):
            probe.basic_publish(
                "gateway.events",
                "department.created",
                json.dumps(make_event("department.created", department, {})),
                pika.BasicProperties(content_type="application/json", delivery_mode=2),
            )
    with ClusterRpcClient(uri=admin, timeout=10, context_data=system()) as client:
        ticket = client.interactions.create_ticket({"contact_id": "c1", "subject": "Late", "department_id": "d1"})
    for _ in range(100):  # the outbox relay publishes with the service's own user
        method, _, body = probe.basic_get(seen, auto_ack=True)
        if method is not None:
            break
        probe.connection.sleep(0.1)
    assert method is not None and json.loads(body)["entity"]["id"] == ticket["id"]


@pytest.mark.parametrize(
    "trespass",
    [
        lambda channel: channel.basic_publish("contacts.events", "contact.created", b"{}"),  # forge an event
        lambda channel: channel.basic_consume("rpc-contacts", lambda *a: None),  # read another's calls
        lambda channel: channel.queue_declare(f"evt-contacts-contact.created--reporting.x{uuid.uuid4().hex}"),
    ],
)
def test_a_services_user_touches_nothing_of_another_service(prepared, broker_user, rabbit_config, trespass):
    prepared("contacts")
    channel = channel_of(broker_user("interactions"))
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as refused:
        trespass(channel)
        channel.connection.process_data_events(time_limit=1)
    assert refused.value.reply_code == 403


def test_on_its_own_user_a_failing_event_is_retried_then_parked(
    prepared, container_factory, rabbit_config, broker_user, monkeypatch
):
    admin = rabbit_config["AMQP_URI"]
    prepared("interactions")
    queue = "evt-gateway-department.created--interactions.on_department_created"
    probe = channel_of(admin)
    probe.queue_purge(f"parked.{queue}")
    monkeypatch.setenv("CRM_EVENT_MAX_DELIVERIES", "2")
    own = broker_user("interactions")
    monkeypatch.setenv("AMQP_URI", own)
    with config.patch({"AMQP_URI": own}):
        interactions = container_factory(service_class("interactions"))
        interactions.start()
        poison = make_event("department.created", {"name": "no id"}, {})  # its handler fails on it
        probe.basic_publish(
            "gateway.events",
            "department.created",
            json.dumps(poison),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
        )
        for _ in range(100):  # retried once at the tail of its queue, then parked
            method, _, body = probe.basic_get(f"parked.{queue}", auto_ack=True)
            if method is not None:
                break
            probe.connection.sleep(0.1)
    assert method is not None and json.loads(body)["event_id"] == poison["event_id"]
