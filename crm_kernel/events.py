"""The one way a service consumes an event: `@consumer(source_service, event_type)`.

The decorated method changes `self.db` and does not commit; `consumer` applies each event once (by
`event_id`, in the table the service class names as `processed_events`), commits, and records how
late the event arrived (`crm_event_lag_seconds`). With `batch=True` the method receives the list of
events not applied before, all applied and committed in one transaction (a failed batch is then
tried event by event, so one event the database refuses holds back no other).

Delivery underneath (`EventConsumer`, also used raw by `event_consumer`):

Nameko's own handler either drops an event whose handler failed or (`requeue_on_error`) puts it
back at the head of the queue forever: one poison event then loops and holds its queue. This one:

- a failure because a dependency is down (the database, the broker) puts the event back after a
  short pause, uncounted: an outage delays events, it never parks them;
- any other failure re-publishes the event at the tail of its queue with a delivery count; after
  `CRM_EVENT_MAX_DELIVERIES` (default 5) deliveries the event is parked in the queue's dead-letter
  queue (`parked.<queue>`, bound to the `crm.parked-events` exchange), counted in
  `crm_events_dead_lettered_total`, and `python -m crm_kernel.deadletters` lists and re-delivers it;
- a broker connection lost while acknowledging is logged, not raised: the broker gives the
  unacknowledged event to a consumer again, and consumers are idempotent by `event_id`. (Raised,
  it would kill the service's container and so the process.)
"""

import functools
import logging
import traceback

import eventlet
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler
from prometheus_client import Counter
from sqlalchemy import select

from crm_kernel import metrics, wire_json
from crm_kernel.bulk import insert_rows, one_of
from crm_kernel.config import amqp_uri, env
from crm_kernel.db import utcnow
from crm_kernel.errors import is_transient_failure
from crm_kernel.rpc import BROKER_ERRORS

log = logging.getLogger(__name__)
wire_json.install()  # every process that consumes events decodes them with orjson (same values, faster)

# Not `crm.dead-letters`: that is the broker's own dead-letter exchange in Kubernetes (a fanout, fed by
# the quorum queues' delivery limit); these names also stay outside its `^evt-` policy.
DEAD_LETTER_EXCHANGE = Exchange("crm.parked-events", type="direct", durable=True)
BROKER_DEAD_LETTERS = "crm.dead-letters"
DELIVERIES = "x-crm-deliveries"  # header: how many times this event failed its handler
ORIGIN_QUEUE = "x-crm-queue"  # header of a parked event: the queue it is re-delivered to
LAST_ERROR = "x-crm-error"
DEAD_LETTERED = Counter(
    "crm_events_dead_lettered_total", "Events parked in a dead-letter queue after failing.", ["service", "queue"]
)
EVENT_RETRIES = Counter(
    "crm_event_retries_total", "Event deliveries that failed and were put back.", ["service", "queue", "kind"]
)


def max_deliveries() -> int:
    return int(env("CRM_EVENT_MAX_DELIVERIES", "5"))


def dead_letter_queue(queue_name: str) -> Queue:
    """Where events of `queue_name` that kept failing wait for an operator."""
    return Queue(
        f"parked.{queue_name}", exchange=DEAD_LETTER_EXCHANGE, routing_key=queue_name, durable=True, auto_delete=False
    )


def is_transient(exc: BaseException) -> bool:
    """A failure that says a dependency is down rather than that the event is bad."""
    return isinstance(exc, BROKER_ERRORS) or is_transient_failure([c.__name__ for c in type(exc).__mro__], str(exc))


class EventConsumer(EventHandler):
    transient_pause = 1.0  # seconds before an event that met an outage is offered again

    def __init__(self, source_service: str, event_type: str, **kwargs):
        super().__init__(source_service, event_type, requeue_on_error=True, **kwargs)

    def setup(self):
        super().setup()
        self.dead_letters = dead_letter_queue(self.queue.name)
        self.publisher = Publisher(amqp_uri(), declare=[DEAD_LETTER_EXCHANGE, self.dead_letters])

    def handle_message_processed(self, message, result=None, exc_info=None, pause: bool = True):
        """Settle one message; `pause=False` when the caller has paused once for a whole batch."""
        try:
            if exc_info is None:
                self.consumer.ack_message(message)
            elif is_transient(exc_info[1]):
                EVENT_RETRIES.labels(self.container.service_name, self.queue.name, "transient").inc()
                if pause:
                    eventlet.sleep(self.transient_pause)
                self.consumer.requeue_message(message)
            else:
                self._retry_or_park(message, exc_info[1], pause)
        except BROKER_ERRORS as exc:
            log.warning("broker connection lost settling an event of %s (%s); it will be redelivered", self.queue, exc)

    def _retry_or_park(self, message, exc: BaseException, pause: bool = True) -> None:
        headers = dict(message.headers or {})
        headers[DELIVERIES] = int(headers.get(DELIVERIES, 0)) + 1
        headers[LAST_ERROR] = "".join(traceback.format_exception_only(exc)).strip()[:1000]
        service = self.container.service_name
        if headers[DELIVERIES] < max_deliveries():
            EVENT_RETRIES.labels(service, self.queue.name, "failed").inc()
            if pause:
                eventlet.sleep(0.2 * headers[DELIVERIES])
            # At the tail of its own queue: the events behind it go first. Published (confirmed) before
            # the original is acknowledged, so a crash in between delivers it twice, never zero times.
            self.publisher.publish(message.payload, exchange="", routing_key=self.queue.name, headers=headers)
        else:
            headers[ORIGIN_QUEUE] = self.queue.name
            self.publisher.publish(
                message.payload, exchange=DEAD_LETTER_EXCHANGE, routing_key=self.queue.name, headers=headers
            )
            DEAD_LETTERED.labels(service, self.queue.name).inc()
            log.error("parked an event of %s after %d deliveries: %s", self.queue.name, headers[DELIVERIES], exc)
        self.consumer.ack_message(message)


event_consumer = EventConsumer.decorator


def _apply_once(service, method, events: list[dict], batch: bool) -> None:
    db, model = service.db, service.processed_events
    ids = [event["event_id"] for event in events]
    seen = set(db.scalars(select(model.event_id).where(one_of(db, model.event_id, ids)))) if ids else set()
    fresh = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])  # the same event twice in one batch is applied once
            fresh.append(event)
    if fresh:
        if batch:
            method(service, fresh)
        else:
            for event in fresh:
                method(service, event)
        # After the change, which may first take its locks (reporting's per-entity locks), and in one
        # statement (a batch's rows one INSERT each would cost more than applying them).
        now = utcnow()
        rows = [{"event_id": event["event_id"], "type": event["type"], "processed_at": now} for event in fresh]
        insert_rows(db, model.__table__, rows)
    db.commit()
    metrics.observe_event_lag(service.name, events)


def consumer(source_service: str, event_type: str, *, batch: bool = False, **options):
    """Consume `event_type` from `source_service`: once per `event_id`, committed, lag recorded.

    `batch=True`: the method takes a list of events (those that arrived together, none seen before),
    delivered by `crm_kernel.batches.BatchEventHandler`; `options` go to the entrypoint (`size`,
    `linger` for batches).
    """

    def decorate(method):
        @functools.wraps(method)
        def handle(self, payload):
            if not batch:
                return _apply_once(self, method, [payload], batch=False)
            try:
                _apply_once(self, method, payload, batch=True)
            except Exception:
                self.db.rollback()
                if len(payload) == 1:
                    raise
                failed = None
                for event in payload:  # one by one: one refused event holds back no other
                    try:
                        _apply_once(self, method, [event], batch=True)
                    except Exception as error:  # noqa: BLE001 - raised again below, after the others
                        self.db.rollback()
                        failed = error
                if failed is not None:
                    raise failed from None

        if batch:
            from crm_kernel.batches import BatchEventHandler  # batches builds on this module

            return BatchEventHandler.decorator(source_service, event_type, **options)(handle)
        return EventConsumer.decorator(source_service, event_type, **options)(handle)

    return decorate
