"""A handler that fails is redelivered by the real RabbitMQ and its change is applied once."""

import json
import os

import pika
from contacts_stub import ContactsStub
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from crm_kernel.outbox import make_event
from crm_kernel.scope import SCOPE, Scope
from interactions import events
from interactions.models import Interaction, ProcessedEvent


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


def succeeded(worker_ctx, result, exc_info) -> bool:
    return exc_info is None  # keep waiting through the failed attempt


def test_a_merge_handler_that_fails_once_is_redelivered_and_applied_once(
    start, rabbit_config, monkeypatch, container_factory
):
    container_factory(ContactsStub).start()
    (interactions,) = start("interactions")
    with entrypoint_hook(interactions, "create_interaction", context_data=system()) as create_interaction:
        call = create_interaction({"contact_id": "source", "channel": "call", "occurred_at": "2026-03-10T10:00:00Z"})
    attempts, repoint = [], events.repoint_contacts

    def fails_the_first_time(session, target_id, source_ids):
        attempts.append(target_id)
        moved = repoint(session, target_id, source_ids)  # the change is made, then the handler dies
        if len(attempts) == 1:
            raise ConnectionError("the database went away mid-handler")
        return moved

    monkeypatch.setattr(events, "repoint_contacts", fails_the_first_time)
    merged = make_event("contact.merged", {"id": "target"}, {}, source_ids=["source"], merge_id="m1")

    with entrypoint_waiter(interactions, "on_contact_merged", callback=succeeded, timeout=20):
        publish(rabbit_config["AMQP_URI"], "contacts.events", merged)
    with entrypoint_waiter(interactions, "on_contact_merged", timeout=20):  # and a duplicate delivery
        publish(rabbit_config["AMQP_URI"], "contacts.events", merged)

    assert attempts == ["target", "target"]  # failed, redelivered, applied; the duplicate changed nothing
    engine = create_engine(os.environ["INTERACTIONS_DATABASE_URL"])  # the `prepared` fixture's database
    with Session(engine) as session:
        assert session.get(Interaction, call["id"]).contact_id == "target"
        applied = select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id == merged["event_id"])
        assert session.scalar(applied) == 1
    engine.dispose()
