"""`python -m crm_kernel.deadletters list|redeliver`: the events parked after failing their handler.

Run it wherever `AMQP_URI` reaches the broker (a laptop, a Kubernetes pod of any service):

    python -m crm_kernel.deadletters list                  # queue, event id and type, deliveries, last error
    python -m crm_kernel.deadletters redeliver             # every parked event back to its queue
    python -m crm_kernel.deadletters redeliver --queue Q   # only those of one consumer queue
    python -m crm_kernel.deadletters redeliver --event-id ID

A re-delivered event starts with a clean delivery count; consumers apply an event once, so one
that already went through changes nothing. The dead-letter queues are those of crm_kernel.events
(`parked.<queue>`), and `crm.dead-letters` where the broker dead-letters by policy (Kubernetes: quorum
queues past their delivery limit), whose events go back to the queue their `x-death` names.
"""

import argparse
import json
import sys
from collections.abc import Iterator

import pika

from crm_kernel.config import amqp_uri
from crm_kernel.events import BROKER_DEAD_LETTERS, DELIVERIES, LAST_ERROR, ORIGIN_QUEUE, dead_letter_queue
from crm_kernel.topology import SERVICE_CLASSES, event_queues, service_class


def dead_letter_queue_names() -> list[str]:
    """Every dead-letter queue the services declare (one per event queue), and the broker's own."""
    names = [
        dead_letter_queue(queue.name).name for name in SERVICE_CLASSES for queue in event_queues(service_class(name))
    ]
    return [*names, BROKER_DEAD_LETTERS]


def _channel(uri: str):
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    return connection, channel


def _parked(channel, queue: str) -> Iterator[tuple]:
    """The messages `queue` holds now, fetched one by one; the caller settles each (`_keep` or ack).

    Only as many as were there at the start, so copies put back by `_keep` are not fetched again.
    """
    try:
        count = channel.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return  # never declared: nothing was ever parked there
    for _ in range(count):
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body


def _keep(channel, queue: str, method, properties, body: bytes) -> None:
    """Leave a fetched message parked: a confirmed copy at the tail, then the original acknowledged.

    Returning it unacknowledged would count as a failed delivery on a quorum queue, and enough of
    those would drop it; a copy starts afresh."""
    channel.basic_publish("", queue, body, properties)
    channel.basic_ack(method.delivery_tag)


def origin_queue(properties, queue: str) -> str:
    """The queue a parked event came from: our header, else the broker's `x-death` record."""
    headers = properties.headers or {}
    if headers.get(ORIGIN_QUEUE):
        return headers[ORIGIN_QUEUE]
    deaths = headers.get("x-death") or []
    if deaths and deaths[0].get("queue"):
        return deaths[0]["queue"]
    return queue.removeprefix("parked.")


def describe(properties, body: bytes, queue: str) -> dict:
    headers = properties.headers or {}
    try:
        event = json.loads(body)
    except ValueError:
        event = {}
    return {
        "dead_letter_queue": queue,
        "queue": origin_queue(properties, queue),
        "event_id": event.get("event_id") if isinstance(event, dict) else None,
        "type": event.get("type") if isinstance(event, dict) else None,
        "deliveries": headers.get(DELIVERIES),
        "error": headers.get(LAST_ERROR),
    }


def list_parked(uri: str | None = None, dead_letter_queues: list[str] | None = None) -> list[dict]:
    return _settle(uri, dead_letter_queues, lambda item: False)[0]


def redeliver(
    uri: str | None = None,
    queue: str | None = None,
    event_id: str | None = None,
    dead_letter_queues: list[str] | None = None,
) -> list[dict]:
    """Publish parked events (all, or those of `queue`, or the one `event_id`) back to their queue."""
    return _settle(
        uri,
        dead_letter_queues,
        lambda item: not ((queue and item["queue"] != queue) or (event_id and item["event_id"] != event_id)),
    )[1]


def _settle(uri, dead_letter_queues, wanted) -> tuple[list[dict], list[dict]]:
    """Go through every parked event: those `wanted` go back to their queue, the others stay parked.
    Returns every event seen, and those re-delivered."""
    connection, channel = _channel(uri or amqp_uri())
    found, redelivered = [], []
    try:
        for dead in dead_letter_queues or dead_letter_queue_names():
            for method, properties, body in _parked(channel, dead):
                item = describe(properties, body, dead)
                found.append(item)
                if not wanted(item):
                    _keep(channel, dead, method, properties, body)
                    continue
                headers = properties.headers or {}
                properties.headers = {
                    k: v for k, v in headers.items() if k not in (DELIVERIES, LAST_ERROR, ORIGIN_QUEUE)
                }
                channel.basic_publish("", item["queue"], body, properties)  # confirmed before the ack
                channel.basic_ack(method.delivery_tag)
                redelivered.append(item)
            if not channel.is_open:  # a queue that was never declared closes the channel
                channel = connection.channel()
                channel.confirm_delivery()
        return found, redelivered
    finally:
        connection.close()


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
