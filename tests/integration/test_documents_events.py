"""The documents service over the real RabbitMQ: its events go out, contact merges come in."""

import json

import pika
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crm_kernel.db import new_id, utcnow
from crm_kernel.scope import SCOPE, Scope
from documents.storage import blob_store


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def publish(amqp_uri: str, exchange: str, event: dict) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    connection.channel().basic_publish(
        exchange,
        event["type"],
        json.dumps(event),
        pika.BasicProperties(content_type="application/json", delivery_mode=2),
    )
    connection.close()


def new_document(create, contact_id: str) -> dict:
    sha256, size = blob_store().put([f"letter to {contact_id}".encode()])
    content = {"filename": "letter.txt", "content_type": "text/plain", "sha256": sha256, "size": size}
    return create({"title": "Letter", "kind": "letter", "contact_id": contact_id, **content})


def test_a_contact_merge_re_points_the_documents_of_the_sources_and_announces_it(
    start, rabbit_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("DOCUMENTS_STORAGE_DIR", str(tmp_path / "blobs"))
    documents, contacts = start("documents", "contacts")
    with entrypoint_hook(contacts, "create_contact", context_data=system()) as create_contact:
        source, other = create_contact({"first_name": "Ada"}), create_contact({"first_name": "Grace"})
    with entrypoint_hook(documents, "create_document", context_data=system()) as create:
        moved, kept = new_document(create, source["id"]), new_document(create, other["id"])

    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "documents.events", "document.updated")
    event = {
        "event_id": new_id(),
        "type": "contact.merged",
        "occurred_at": utcnow().isoformat(),
        "actor": "u1",
        "request_id": "r1",
        "entity": {"id": "target"},
        "source_ids": [source["id"]],
        "merge_id": new_id(),
    }
    with entrypoint_waiter(documents, "on_contact_merged", timeout=10):
        publish(rabbit_config["AMQP_URI"], "contacts.events", event)

    with entrypoint_hook(documents, "get_document", context_data=system()) as get:
        assert get(moved["id"])["contact_id"] == "target"
        assert get(kept["id"])["contact_id"] == other["id"]
    announced = None
    for method, _properties, payload in channel.consume(queue, inactivity_timeout=10):
        assert method is not None, "no document.updated arrived within 10 s"
        announced = json.loads(payload)
        break
    connection.close()
    assert announced["entity"]["id"] == moved["id"]
    assert announced["changes"] == {"contact_id": [source["id"], "target"]}
