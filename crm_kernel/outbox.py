"""The transactional outbox (consumers apply what it publishes once: `crm_kernel.events.consumer`).

A service records an event in the same session (and so the same commit) as the change it
announces. A relay in the same process publishes recorded events in order, with publisher
confirms, and marks them sent. A crash between publishing and marking publishes the event again:
delivery is at least once, and consumers drop what they have seen by `event_id`.
"""

import logging
from contextlib import contextmanager, suppress
from datetime import datetime

import eventlet
from eventlet.event import Event
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection, Exchange, Producer
from nameko.amqp.publish import Publisher
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, PERSISTENT
from nameko.events import get_event_exchange
from nameko.extensions import DependencyProvider
from nameko.messaging import encode_to_headers
from sqlalchemy import JSON, BigInteger, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from crm_kernel import metrics
from crm_kernel.config import amqp_uri, database_url, outbox_bulk_interval, outbox_import_interval
from crm_kernel.context import ACTOR, REQUEST_ID
from crm_kernel.db import UTCDateTime, get_engine, new_id, utcnow

log = logging.getLogger(__name__)


class OutboxMixin:
    """Events waiting to be published (`sent_at` empty) and those already published."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ProcessedEventMixin:
    """Events a consumer has applied, so that a redelivery changes nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def make_event(event_type: str, entity: dict, context: dict, *, at: datetime | None = None, **extra) -> dict:
    """The envelope every event carries: id, type, UTC time (`at`, by default now), actor, request id
    and the entity."""
    return {
        "event_id": new_id(),
        "type": event_type,
        "occurred_at": (at or utcnow()).isoformat(),
        "actor": context.get(ACTOR),
        "request_id": context.get(REQUEST_ID),
        "entity": entity,
        **extra,
    }


def relay_batch(session: Session, model, publish, limit: int = 100, *, publish_many=None) -> int:
    """Publish up to `limit` unsent events in the order they were recorded; mark them sent.

    `publish_many(events)`, when given, publishes the whole batch at once (one broker round trip).
    The batch is marked sent with one UPDATE (the ORM's flush sent one per event: psycopg2 runs an
    executemany as one round trip per row)."""
    rows = session.execute(
        select(model.id, model.payload)
        .where(model.sent_at.is_(None))
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # replicas of a service share the work on PostgreSQL
    ).all()
    if publish_many is not None and rows:
        publish_many([row.payload for row in rows])
    else:
        for row in rows:
            publish(row.payload)
    if rows:
        session.execute(update(model).where(model.id.in_([row.id for row in rows])).values(sent_at=utcnow()))
    session.commit()
    return len(rows)


ENVELOPE = ("event_id", "type", "occurred_at", "actor", "request_id", "entity", "changes", "department_id")


def audit_trail(session: Session, model, entity_type: str, entity_id: str, limit: int = 200) -> list[dict]:
    """The recorded events of one entity, newest first: who (actor), when, what (type, changes and what
    else the event says).

    The outbox keeps every event after it is sent, so it is the service's audit log as well.
    """
    # A service whose outbox indexes the entity id (contacts) is searched by it; others by the payload.
    matches = (
        model.entity_id == entity_id
        if hasattr(model, "entity_id")
        else model.payload["entity"]["id"].as_string() == entity_id
    )
    rows = session.scalars(
        select(model)
        .where(model.type.startswith(f"{entity_type}.", autoescape=True))
        .where(matches)
        .order_by(model.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "event_id": row.event_id,
            "type": row.type,
            "occurred_at": row.payload["occurred_at"],
            "actor": row.payload.get("actor"),
            "request_id": row.payload.get("request_id"),
            "changes": row.payload.get("changes"),
            "department_id": row.payload["entity"].get("department_id"),
            # What the event adds to its envelope: a merge's sources, a transition's from and to, ...
            **{key: value for key, value in row.payload.items() if key not in ENVELOPE},
        }
        for row in rows
    ]


def backlog(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.sent_at.is_(None)))


class OutboxRecorder:
    """What a worker sees: `add(session, type, entity)` records an event in the caller's transaction."""

    def __init__(self, model, context_data: dict, relay: "Outbox | None" = None):
        self.model = model
        self.context_data = context_data
        self.relay = relay
        self.recorded = False  # whether the relay has anything to do when the worker ends

    @contextmanager
    def importing(self):
        """While the block runs (an import), the process's relay publishes the backlog slowly, so the
        import keeps the CPU; its events are committed all the same and go out at full pace after."""
        if self.relay is None:
            yield
            return
        self.relay.importing += 1
        try:
            yield
        finally:
            self.relay.importing -= 1
            self.relay.kick()

    def republish_all(self, session: Session) -> int:
        """Mark every recorded event unsent, so the relay publishes the history again, in order."""
        count = session.execute(update(self.model).values(sent_at=None)).rowcount
        self.recorded = True
        session.commit()
        return count

    def add(self, session: Session, event_type: str, entity: dict, **extra) -> dict:
        event = make_event(event_type, entity, self.context_data, **extra)
        session.add(self.model(event_id=event["event_id"], type=event_type, payload=event))
        self.recorded = True
        return event

    def event_rows(self, event_type: str, entities: list[dict], **extra) -> list[dict]:
        """Outbox rows (column -> value) announcing each entity, for a caller that inserts many at once."""
        now, rows = utcnow(), []  # one transaction, one time
        self.recorded = True
        for entity in entities:
            event = make_event(event_type, entity, self.context_data, at=now, **extra)
            rows.append({"event_id": event["event_id"], "type": event_type, "payload": event, "created_at": now})
        return rows


class Outbox(DependencyProvider):
    """Records events with the change they announce, and relays them to the service's exchange."""

    idle_interval = 1.0  # seconds between polls when no worker has kicked the relay
    max_backoff = 10.0
    batch = 500  # events published in one broker transaction

    def __init__(self, model):
        self.model = model

    def setup(self):
        service = self.container.service_name
        self.service = service
        self.exchange: Exchange = get_event_exchange(service)
        self.publisher = Publisher(amqp_uri(), exchange=self.exchange, declare=[self.exchange], serializer="json")
        self.bulk_interval = outbox_bulk_interval()
        self.import_interval = outbox_import_interval()
        self.importing = 0  # imports running in this process (`OutboxRecorder.importing`)
        self.bulk = None  # the connection and producer of `publish_many`, opened on first use
        self.make_session = sessionmaker(get_engine(database_url(service)), expire_on_commit=False)
        self.kicks = LightQueue(maxsize=1)
        self.recorders: dict = {}
        self.running = False
        self.stopped = Event()

    def start(self):
        self.running = True
        self.container.spawn_managed_thread(self._relay_forever, identifier="outbox_relay")

    def stop(self):
        # Finish the batch in flight, then let the container go.
        if self.running:
            self.running = False
            self.kick()
            self.stopped.wait()
        self.close_bulk()

    def kill(self):
        self.running = False
        self.close_bulk()

    def get_dependency(self, worker_ctx):
        recorder = self.recorders[worker_ctx] = OutboxRecorder(self.model, worker_ctx.data, self)
        return recorder

    def worker_teardown(self, worker_ctx):
        # Only a worker that recorded events wakes the relay: a read (most requests) would otherwise
        # cost a relay round (a locking SELECT, a commit and a count) in every service it touched.
        recorder = self.recorders.pop(worker_ctx, None)
        if recorder is not None and recorder.recorded:
            self.kick()

    def kick(self):
        with suppress(Full):  # a kick is already pending: one is enough
            self.kicks.put_nowait(True)

    def publish(self, event: dict):
        headers = encode_to_headers({REQUEST_ID: event.get("request_id"), ACTOR: event.get("actor")})
        self.publisher.publish(event, routing_key=event["type"], extra_headers=headers)
        metrics.EVENTS_PUBLISHED.labels(self.service).inc()

    def publish_many(self, events: list[dict]):
        """Publish `events` in one AMQP transaction: one round trip for the batch.

        Publisher confirms (`publish`) wait for the broker once per event. `tx.commit-ok` comes once
        the broker has taken every message of the transaction (persistent, as Nameko publishes events);
        until then nothing is marked sent, so a failure publishes the batch again (at least once). The
        relay keeps one connection and transactional channel for this; a failure drops them, and the
        next round opens new ones.
        """
        try:
            if self.bulk is None:
                connection = Connection(amqp_uri(), transport_options=dict(DEFAULT_TRANSPORT_OPTIONS))
                channel = connection.channel()
                channel.tx_select()
                self.bulk = (connection, Producer(channel, exchange=self.exchange, serializer="json"))
            producer = self.bulk[1]
            for event in events:
                headers = encode_to_headers({REQUEST_ID: event.get("request_id"), ACTOR: event.get("actor")})
                producer.publish(
                    event, routing_key=event["type"], headers=headers, delivery_mode=PERSISTENT, retry=False
                )
            producer.channel.tx_commit()
        except Exception:
            self.close_bulk()
            raise
        metrics.EVENTS_PUBLISHED.labels(self.service).inc(len(events))

    def close_bulk(self):
        bulk, self.bulk = self.bulk, None
        if bulk is not None:
            with suppress(Exception):
                bulk[0].collect()  # drops the sockets without waiting for a broker that may be gone

    def _pause(self, sent: int) -> float:
        if sent < self.batch:
            return 0.0
        return self.import_interval if self.importing else self.bulk_interval

    def _relay_forever(self):
        backoff = 0.0
        try:
            while self.running:
                with suppress(Empty):  # no kick: poll anyway, for events of other processes
                    self.kicks.get(timeout=backoff or self.idle_interval)
                backoff = self._relay_until_empty(backoff)
        finally:
            self.stopped.send(True)

    def _relay_until_empty(self, backoff: float) -> float:
        """Publish everything pending; return the wait before the next try (0 after success)."""
        try:
            with self.make_session() as session:
                while True:
                    sent = relay_batch(
                        session, self.model, self.publish, limit=self.batch, publish_many=self.publish_many
                    )
                    if sent < self.batch:
                        # Nothing more was waiting (an event committed since kicks the relay again): the
                        # round ends without another look, and without counting what is left.
                        metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
                        break
                    # Between batches the connection is back in the pool: let a worker waiting for it
                    # run first (on SQLite a process has one connection, and a backlog of a large
                    # import's events would otherwise hold it for minutes). A full batch means a
                    # backlog (an import's events): wait `bulk_interval` so the import keeps the CPU;
                    # every event still goes out, at most `batch / bulk_interval` a second meanwhile,
                    # `batch / import_interval` while an import runs here (reporting applies each one).
                    eventlet.sleep(self._pause(sent))
                    if not self.running:
                        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog(session, self.model))
                        break  # stopping: what is left is published after the restart
            return 0.0
        except Exception:
            metrics.OUTBOX_RELAY_FAILURES.labels(self.service).inc()
            log.warning("outbox relay failed; will retry", exc_info=True)
            return min(self.max_backoff, max(0.5, backoff * 2))
