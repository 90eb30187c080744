"""`python -m crm_kernel.deadletters list|redeliver`: the events parked after failing their handler.

Run it wherever `AMQP_URI` reaches the broker (a laptop, a Kubernetes pod of any service):

    python -m crm_kernel.deadletters list                  # queue, event id and type, deliveries, last error
    python -m crm_kernel.deadletters redeliver             # every parked event back to its queue
    python -m crm_kernel.deadletters redeliver --queue Q   # only those of one consumer queue
    python -m crm_kernel.deadletters redeliver --event-id ID

A re-delivered event starts with a clean delivery count; consumers apply an event once, so one
that already went through changes nothing. The dead-letter queues are those of crm_kernel.events.
"""

import argparse
import json
import sys
from collections.abc import Iterator

import pika

from crm_kernel.config import amqp_uri
from crm_kernel.events import DELIVERIES, LAST_ERROR, ORIGIN_QUEUE
from crm_kernel.topology import SERVICE_CLASSES, event_queues, service_class


def dead_letter_queue_names() -> list[str]:
    """Every dead-letter queue the services declare (one per event queue)."""
    return [f"{queue.name}.dead" for name in SERVICE_CLASSES for queue in event_queues(service_class(name))]


def _channel(uri: str):
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    return connection, connection.channel()


def _parked(channel, queue: str) -> Iterator[tuple]:
    """Every message of `queue`, fetched unacknowledged (the caller acks or they all return on close)."""
    try:
        channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return  # never declared: nothing was ever parked there
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body


def describe(properties, body: bytes, queue: str) -> dict:
    headers = properties.headers or {}
    try:
        event = json.loads(body)
    except ValueError:
        event = {}
    return {
        "dead_letter_queue": queue,
        "queue": headers.get(ORIGIN_QUEUE, queue.removesuffix(".dead")),
        "event_id": event.get("event_id"),
        "type": event.get("type"),
        "deliveries": headers.get(DELIVERIES),
        "error": headers.get(LAST_ERROR),
    }


def list_parked(uri: str | None = None, dead_letter_queues: list[str] | None = None) -> list[dict]:
    connection, channel = _channel(uri or amqp_uri())
    try:
        found = []
        for queue in dead_letter_queues or dead_letter_queue_names():
            found += [describe(properties, body, queue) for _, properties, body in _parked(channel, queue)]
            channel = _reopen(connection, channel)  # closing the channel returns what it fetched
        return found
    finally:
        connection.close()


def redeliver(
    uri: str | None = None,
    queue: str | None = None,
    event_id: str | None = None,
    dead_letter_queues: list[str] | None = None,
) -> list[dict]:
    """Publish parked events (all, or those of `queue`, or the one `event_id`) back to their queue."""
    connection, channel = _channel(uri or amqp_uri())
    channel.confirm_delivery()
    done = []
    try:
        for dead in dead_letter_queues or dead_letter_queue_names():
            for method, properties, body in _parked(channel, dead):
                item = describe(properties, body, dead)
                if (queue and item["queue"] != queue) or (event_id and item["event_id"] != event_id):
                    continue
                headers = {k: v for k, v in (properties.headers or {}).items() if k not in (DELIVERIES, LAST_ERROR)}
                headers.pop(ORIGIN_QUEUE, None)
                properties.headers = headers
                channel.basic_publish("", item["queue"], body, properties)  # confirmed before the ack below
                channel.basic_ack(method.delivery_tag)
                done.append(item)
            channel = _reopen(connection, channel, confirm=True)
        return done
    finally:
        connection.close()


def _reopen(connection, channel, confirm: bool = False):
    if channel.is_open:
        channel.close()
    channel = connection.channel()
    if confirm:
        channel.confirm_delivery()
    return channel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_kernel.deadletters", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print the parked events, one JSON object a line")
    again = commands.add_parser("redeliver", help="publish parked events back to their queue")
    again.add_argument("--queue", help="only the events parked from this consumer queue")
    again.add_argument("--event-id", help="only this event")
    args = parser.parse_args(argv)
    items = list_parked() if args.command == "list" else redeliver(queue=args.queue, event_id=args.event_id)
    for item in items:
        print(json.dumps(item))
    print(f"{len(items)} event(s) {'parked' if args.command == 'list' else 're-delivered'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
