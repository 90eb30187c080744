"""The RabbitMQ queues each service consumes events from, declared before any service starts.

Events are published with `mandatory=False`: one published before its consumer's queue exists is
dropped by the broker. Declaring every consumer's durable queue at deploy time (with the
migrations) closes that window on a first start, as the schema does for tables.
"""

import importlib
import re
import sys
from urllib.parse import quote, unquote, urlsplit

import requests
from kombu import Connection, Queue
from nameko import config
from nameko.containers import ServiceContainer
from nameko.events import SERVICE_POOL, EventHandler
from nameko.rpc import get_rpc_exchange
from nameko.standalone.events import get_event_exchange

from crm_kernel.config import amqp_uri, env, services
from crm_kernel.events import DEAD_LETTER_EXCHANGE, dead_letter_queue

SERVICE_CLASSES = services()  # name -> `module:Class`, from config.yaml


def service_class(name: str):
    module, cls = SERVICE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def event_queues(service_cls) -> list[Queue]:
    """The durable queues Nameko will consume from for `service_cls`'s pooled event handlers.

    Nameko's own: each event handler of a container that is never started is set up (which names and
    builds its queue, `EventHandler.setup`, and connects nothing) and asked for its `queue`.
    """
    queues = []
    with config.patch({"AMQP_URI": config.get("AMQP_URI") or amqp_uri()}):
        container = ServiceContainer(service_cls)  # held: entrypoints refer to it weakly
        for entrypoint in container.entrypoints:
            if isinstance(entrypoint, EventHandler) and entrypoint.handler_type == SERVICE_POOL:
                entrypoint.setup()
                queues.append(entrypoint.queue)
    return sorted(queues, key=lambda queue: queue.name)


def declare_event_queues(service_cls, uri: str | None = None) -> list[str]:
    """Each event queue of `service_cls`, and beside it its dead-letter queue (crm_kernel.events)."""
    queues = event_queues(service_cls)
    queues += [dead_letter_queue(queue.name) for queue in queues]
    with Connection(uri or amqp_uri()) as connection:
        channel = connection.channel()
        for queue in queues:
            queue.bind(channel).declare()
    return [queue.name for queue in queues]


def broker_permissions(service_cls) -> dict[str, str]:
    """The RabbitMQ permissions (regular expressions on names, per virtual host) of `service_cls`'s own
    user: its RPC queue and reply queues, its event queues, its own event exchange and the RPC
    exchange; of another service's event exchange only what consuming needs (declare, read).

    So a service cannot publish another's events, nor read another's queues. RabbitMQ checks
    `configure` to declare or delete, `write` to publish or bind a queue, `read` to consume or bind
    from an exchange.

    A failed event is put back at the tail of its queue through the default exchange (`amq.default`,
    write) and finally parked in its dead-letter queue (crm_kernel.events): the parked-events
    exchange and the service's own `parked.` queues are its to declare, bind and publish to.
    """
    name = service_cls.name
    rpc_exchange = re.escape(get_rpc_exchange().name)
    own_exchange = re.escape(get_event_exchange(name).name)
    own_events = event_queues(service_cls)
    consumed = sorted({re.escape(queue.exchange.name) for queue in own_events})
    queues = [
        re.escape(f"rpc-{name}"),
        re.escape(f"rpc.reply-{name}-") + "[0-9a-f-]+",
        *(re.escape(queue.name) for queue in own_events),
    ]
    parked_exchange = re.escape(DEAD_LETTER_EXCHANGE.name)
    parked = [re.escape(dead_letter_queue(queue.name).name) for queue in own_events]

    def anchored(names: list[str]) -> str:
        return "^(" + "|".join(names) + ")$"

    return {
        "configure": anchored([rpc_exchange, own_exchange, *consumed, *queues, parked_exchange, *parked]),
        "write": anchored([rpc_exchange, own_exchange, *queues, re.escape("amq.default"), parked_exchange, *parked]),
        "read": anchored([rpc_exchange, *consumed, *queues, parked_exchange]),
    }


def broker_user(service_cls) -> str:
    """The RabbitMQ user a service runs as."""
    return f"crm-{service_cls.name}"


def create_broker_user(service_cls, password: str, uri: str | None = None, management_url: str | None = None) -> str:
    """Create (or update) `service_cls`'s own RabbitMQ user with `password` and exactly its
    `broker_permissions`, through RabbitMQ's management API, as the administrator `uri` names.

    The virtual host is `uri`'s; the API is at `RABBITMQ_MANAGEMENT_URL`, by default port 15672 of
    `uri`'s host.
    """
    parts = urlsplit(uri or amqp_uri())
    vhost = unquote(parts.path[1:]) or "/"
    base = management_url or env("RABBITMQ_MANAGEMENT_URL", f"http://{parts.hostname}:15672")
    user = broker_user(service_cls)
    with requests.Session() as session:
        session.auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        created = session.put(
            f"{base}/api/users/{quote(user, safe='')}", json={"password": password, "tags": ""}, timeout=10
        )
        created.raise_for_status()
        permitted = session.put(
            f"{base}/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            json=broker_permissions(service_cls),
            timeout=10,
        )
        permitted.raise_for_status()
    return user


def main(argv: list[str]) -> int:
    """`python -m crm_kernel.topology permissions [vhost]`: the rabbitmqctl commands that give each
    service its own user's permissions (`python -m crm_kernel.migrations` creates the users
    `crm-<service>` with them when `<SERVICE>_BROKER_PASSWORD` is set)."""
    if not argv or argv[0] != "permissions":
        print("usage: python -m crm_kernel.topology permissions [vhost]", file=sys.stderr)
        return 2
    vhost = argv[1] if len(argv) > 1 else "/"
    for name in SERVICE_CLASSES:
        permissions = broker_permissions(service_class(name))
        quoted = " ".join(f"'{permissions[kind]}'" for kind in ("configure", "write", "read"))
        print(f"rabbitmqctl set_permissions -p '{vhost}' crm-{name} {quoted}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
