"""Reporting drains a backlog of events from RabbitMQ in batches: each applied once, none left behind."""

import json
import os

import pika
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import create_engine, func, select

from crm_kernel.db import new_id, utcnow
from crm_kernel.scope import SCOPE, Scope
from crm_kernel.topology import service_class
from reporting.models import ProcessedEvent


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


BACKLOG = 1200


def contact_created() -> dict:
    now = utcnow().isoformat()
    entity = {"id": new_id(), "created_at": now, "owner_id": None, "department_id": None}
    return {"event_id": new_id(), "type": "contact.created", "occurred_at": now, "actor": "u1", "entity": entity}


def publish(uri: str, events: list[dict]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    for event in events:
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        channel.basic_publish("contacts.events", "contact.created", json.dumps(event), properties)
    connection.close()


def waiting(uri: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    count = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return count


def test_a_backlog_is_applied_in_batches_once_each_and_acknowledged(container_factory, prepared, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    prepared("reporting")  # the queue exists before the service starts, as after an outage
    events = [contact_created() for _ in range(BACKLOG)]
    publish(uri, [*events, events[0], events[1]])  # two redelivered
    engine = create_engine(os.environ["REPORTING_DATABASE_URL"])
    workers = []

    def applied_all(worker_ctx, result, exc_info):
        workers.append(worker_ctx)
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(ProcessedEvent)) == BACKLOG

    reporting = container_factory(service_class("reporting"))
    reporting.start()
    with entrypoint_waiter(reporting, "on_contact_created", callback=applied_all, timeout=60):
        pass
    with entrypoint_hook(reporting, "kpis", context_data=system()) as kpis:
        report = kpis({})
    engine.dispose()

    assert report["kpis"]["contacts_created"] == BACKLOG
    assert len(workers) < BACKLOG / 2  # batches, not one worker per event
    assert waiting(uri, "evt-contacts-contact.created--reporting.on_contact_created") == 0
