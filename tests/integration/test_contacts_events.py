"""The contacts service announces merges, undos and company changes over RabbitMQ, from its outbox."""

import json

import pika
from nameko.testing.services import entrypoint_hook

from crm_kernel.scope import SCOPE, Scope


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def test_a_merge_and_its_undo_are_published_with_source_ids_and_merge_id(start, rabbit_config):
    (contacts,) = start("contacts")
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.exchange_declare("contacts.events", "topic", durable=True)  # as Nameko declares it
    for key in ("contact.merged", "contact.unmerged", "company.*"):
        channel.queue_bind(queue, "contacts.events", key)
    context = {"request_id": "req-merge", "actor": "u-9"} | system()
    with entrypoint_hook(contacts, "create_company", context_data=context) as create_company:
        company = create_company({"name": "Acme"})
    with entrypoint_hook(contacts, "create_contact", context_data=system()) as create:
        target = create({"first_name": "Ada", "company_id": company["id"]})
        source = create({"first_name": "Ada", "company_id": company["id"]})
    with entrypoint_hook(contacts, "merge_contacts", context_data=context) as merge:
        merged = merge(target["id"], {"source_ids": [source["id"]]})
    with entrypoint_hook(contacts, "undo_merge", context_data=context) as undo:
        undo(merged["merge_id"])

    received = []
    for method, _properties, payload in channel.consume(queue, inactivity_timeout=10):
        assert method is not None, f"only {[e['type'] for e in received]} arrived within 10 s"
        received.append(json.loads(payload))
        if len(received) == 3:
            break
    connection.close()

    assert [e["type"] for e in received] == ["company.created", "contact.merged", "contact.unmerged"]
    merged_event, unmerged_event = received[1], received[2]
    assert merged_event["entity"]["id"] == target["id"]
    assert merged_event["source_ids"] == unmerged_event["source_ids"] == [source["id"]]
    assert merged_event["merge_id"] == unmerged_event["merge_id"] == merged["merge_id"]
    assert merged_event["actor"] == "u-9"
