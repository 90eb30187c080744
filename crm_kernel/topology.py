"""The RabbitMQ queues each service consumes events from, declared before any service starts.

Events are published with `mandatory=False`: one published before its consumer's queue exists is
dropped by the broker. Declaring every consumer's durable queue at deploy time (with the
migrations) closes that window on a first start, as the schema does for tables.
"""

import importlib
import inspect

from kombu import Connection, Queue
from nameko.events import SERVICE_POOL, EventHandler
from nameko.standalone.events import get_event_exchange

from crm_kernel.config import amqp_uri
from crm_kernel.events import dead_letter_queue

SERVICE_CLASSES = {
    "contacts": "contacts.service:ContactsService",
    "interactions": "interactions.service:InteractionsService",
    "documents": "documents.service:DocumentsService",
    "reporting": "reporting.service:ReportingService",
    "gateway": "gateway.service:GatewayService",
}


def service_class(name: str):
    module, cls = SERVICE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def event_queues(service_cls) -> list[Queue]:
    """The durable queues Nameko will consume from for `service_cls`'s pooled event handlers."""
    queues = []
    for method_name, method in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventHandler) and entrypoint.handler_type == SERVICE_POOL:
                # Same name and arguments as nameko.events.EventHandler.setup, or the broker refuses.
                name = f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{service_cls.name}.{method_name}"
                exchange = get_event_exchange(entrypoint.source_service)
                queues.append(
                    Queue(name, exchange=exchange, routing_key=entrypoint.event_type, durable=True, auto_delete=False)
                )
    return queues


def declare_event_queues(service_cls, uri: str | None = None) -> list[str]:
    """Each event queue of `service_cls`, and beside it its dead-letter queue (crm_kernel.events)."""
    queues = event_queues(service_cls)
    queues += [dead_letter_queue(queue.name) for queue in queues]
    with Connection(uri or amqp_uri()) as connection:
        channel = connection.channel()
        for queue in queues:
            queue.bind(channel).declare()
    return [queue.name for queue in queues]
