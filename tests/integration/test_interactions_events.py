"""The interactions service consumes other services' events over the real RabbitMQ."""

import json
from datetime import UTC, datetime

import pika
from contacts_stub import ContactsStub
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crm_kernel.outbox import make_event
from crm_kernel.scope import SCOPE, Scope
from interactions import tickets


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def publish(uri: str, exchange: str, event: dict) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        connection.channel().basic_publish(
            exchange,
            event["type"],
            json.dumps(event),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
        )
    finally:
        connection.close()


def test_after_a_merge_every_record_of_the_sources_points_at_the_target(start, rabbit_config, container_factory):
    container_factory(ContactsStub).start()
    (interactions,) = start("interactions")
    with entrypoint_hook(interactions, "create_interaction", context_data=system()) as create_interaction:
        call = create_interaction({"contact_id": "source", "channel": "call", "occurred_at": "2026-03-10T10:00:00Z"})
    with entrypoint_hook(interactions, "create_ticket", context_data=system()) as create_ticket:
        ticket = create_ticket({"contact_id": "source", "subject": "Broken engine"})
    with entrypoint_hook(interactions, "create_deal", context_data=system()) as create_deal:
        deal = create_deal({"contact_id": "other-source", "title": "Engine", "amount": "10", "currency": "GBP"})
    merged = make_event("contact.merged", {"id": "target"}, {}, source_ids=["source", "other-source"], merge_id="m1")

    for _ in range(2):  # delivered twice: applied once, the same result
        with entrypoint_waiter(interactions, "on_contact_merged", timeout=10):
            publish(rabbit_config["AMQP_URI"], "contacts.events", merged)

    with entrypoint_hook(interactions, "contact_timeline", context_data=system()) as timeline:
        items = timeline("target", {})["items"]
        assert timeline("source", {})["items"] == []
    assert {(item["kind"], item["id"]) for item in items} == {
        ("interaction", call["id"]),
        ("ticket", ticket["id"]),
        ("deal", deal["id"]),
    }


def test_a_departments_zone_and_hours_from_the_gateway_set_the_sla_clock(
    start, rabbit_config, clock, container_factory
):
    container_factory(ContactsStub).start()
    (interactions,) = start("interactions")
    hours = {"sat": [["10:00", "11:00"]]}  # one hour a week, on Saturdays, in Tokyo
    department = {"id": "d-tokyo", "name": "Tokyo", "parent_id": None, "timezone": "Asia/Tokyo", "working_hours": hours}
    clock(datetime(2026, 3, 9, 3, 0, tzinfo=UTC), tickets)  # Monday 2026-03-09 12:00 in Tokyo

    with entrypoint_waiter(interactions, "on_department_created", timeout=10):
        publish(rabbit_config["AMQP_URI"], "gateway.events", make_event("department.created", department, {}))
    with entrypoint_hook(interactions, "create_ticket", context_data=system()) as create_ticket:
        ticket = create_ticket({"contact_id": "c1", "subject": "s", "priority": "urgent", "department_id": "d-tokyo"})

    # 120 urgent minutes at one hour a week: Saturday the 14th's hour, then Saturday the 21st's, at its
    # end (11:00 in Tokyo, +09:00). Mon-Fri 09-17 UTC (the hours of an unknown department) would differ.
    assert datetime.fromisoformat(ticket["sla_due_at"]) == datetime(2026, 3, 21, 2, 0, tzinfo=UTC)
