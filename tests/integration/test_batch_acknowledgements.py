"""A batch of events is acknowledged once, after its commit, and never for another batch: over the real
RabbitMQ, a batch still being applied when a newer one finishes is redelivered after a crash, and a
batch committed but not yet acknowledged when the process dies is redelivered and applied once."""

import json
import os

import pika
import pytest
from eventlet.event import Event
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import create_engine, func, select

from crm_kernel.batches import BatchEventHandler, batch_handler
from crm_kernel.db import new_id, utcnow
from crm_kernel.events import EventConsumer
from crm_kernel.scope import SCOPE, Scope
from crm_kernel.topology import declare_event_queues, service_class
from reporting.models import ProcessedEvent

QUEUE = "evt-upstream-thing.batched--batches.on_things"
REPORTING_QUEUE = "evt-contacts-contact.created--reporting.on_contact_created"


class Batches:
    """Holds the first batch it gets until `release` is sent; records every batch it finishes."""

    name = "batches"
    finished: list = []
    release = Event()
    holding = {"first": True}

    @batch_handler("upstream", "thing.batched", size=3, linger=0.05)
    def on_things(self, events):
        if Batches.holding["first"]:
            Batches.holding["first"] = False
            Batches.release.wait()
        Batches.finished.append([event["event_id"] for event in events])


def publish(uri: str, exchange: str, routing_key: str, events: list[dict]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    for event in events:
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        channel.basic_publish(exchange, routing_key, json.dumps(event), properties)
    connection.close()


def finished_batch(ids: list[str]):
    """An `entrypoint_waiter` callback: true once a worker has applied exactly the events `ids`."""
    return lambda worker_ctx, result, exc_info: (
        exc_info is None and [event["event_id"] for event in worker_ctx.args[0]] == ids
    )


@pytest.fixture
def batches(rabbit_config, container_factory):
    Batches.finished, Batches.release, Batches.holding = [], Event(), {"first": True}
    declare_event_queues(Batches, rabbit_config["AMQP_URI"])  # as the service declares them
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    connection.channel().queue_purge(QUEUE)
    connection.close()
    return lambda: container_factory(Batches)


def test_a_newer_batch_finishing_first_never_acknowledges_an_older_batch_still_being_applied(batches, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    events = [{"event_id": f"e{n}", "type": "thing.batched"} for n in range(6)]
    older, newer = [event["event_id"] for event in events[:3]], [event["event_id"] for event in events[3:]]
    publish(uri, "upstream.events", "thing.batched", events)  # waiting together: two batches of three
    first = batches()
    with entrypoint_waiter(first, "on_things", callback=finished_batch(newer), timeout=30):
        first.start()
    assert Batches.finished == [newer]  # the older batch is still held: not committed, not acknowledged
    first.kill()  # the process dies while the older batch is being applied

    Batches.release.send()
    second = batches()
    second.start()
    with entrypoint_waiter(second, "on_things", callback=finished_batch(["e-last"]), timeout=30):
        publish(uri, "upstream.events", "thing.batched", [{"event_id": "e-last", "type": "thing.batched"}])

    # The older batch came again (the newer one's acknowledgement did not cover it); the newer did not.
    assert [event for batch in Batches.finished[1:] for event in batch] == [*older, "e-last"]


def test_a_batch_committed_but_not_acknowledged_when_the_process_dies_comes_again_and_counts_once(
    container_factory, prepared, rabbit_config, monkeypatch
):
    uri = rabbit_config["AMQP_URI"]
    prepared("reporting")
    now = utcnow().isoformat()
    events = [
        {
            "event_id": new_id(),
            "type": "contact.created",
            "occurred_at": now,
            "actor": "u1",
            "entity": {"id": new_id(), "created_at": now, "owner_id": None, "department_id": None},
        }
        for _ in range(5)
    ]
    engine = create_engine(os.environ["REPORTING_DATABASE_URL"])

    def applied() -> int:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(ProcessedEvent))

    # The process dies after the commit and before any acknowledgement is sent.
    with monkeypatch.context() as crash:
        crash.setattr(BatchEventHandler, "acknowledge_all", lambda self, messages: None)
        crash.setattr(EventConsumer, "handle_message_processed", lambda self, message, *args, **kwargs: None)
        first = container_factory(service_class("reporting"))
        first.start()
        with entrypoint_waiter(first, "on_contact_created", callback=lambda *_: applied() == 5, timeout=30):
            publish(uri, "contacts.events", "contact.created", events)
        first.kill()

    redelivered = []
    second = container_factory(service_class("reporting"))

    def came_again(worker_ctx, result, exc_info):
        redelivered.extend(event["event_id"] for event in worker_ctx.args[0])
        return exc_info is None and len(redelivered) >= 5

    with entrypoint_waiter(second, "on_contact_created", callback=came_again, timeout=30):
        second.start()
    with entrypoint_hook(second, "kpis", context_data={SCOPE: Scope.system().encode()}) as kpis:
        report = kpis({})

    assert sorted(redelivered) == sorted(event["event_id"] for event in events)
    assert applied() == 5
    assert report["kpis"]["contacts_created"] == 5
    engine.dispose()
