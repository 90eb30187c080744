"""The outbox on SQLite and PostgreSQL: a change and its event commit together or not at all."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import eventlet
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from contacts.models import Contact, OutboxEvent
from crm_kernel.db import get_engine
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import Outbox, OutboxRecorder, audit_trail, backlog, relay_batch


@pytest.fixture
def session(database_url):
    upgrade("contacts", database_url)
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        yield session


def record_contact(session, name="Ada"):
    contact = Contact(first_name=name, last_name="Lovelace", emails=[], phones=[], attributes={})
    contact.refresh_search_text()
    session.add(contact)
    session.flush()
    OutboxRecorder(OutboxEvent, {"actor": "u1", "request_id": "r1"}).add(
        session, "contact.created", {"id": contact.id, "first_name": name}
    )
    return contact


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_a_change_and_its_event_commit_together(session):
    record_contact(session)
    session.commit()
    assert count(session, Contact) == 1
    event = session.scalars(select(OutboxEvent)).one()
    assert event.payload["type"] == "contact.created"
    assert event.payload["actor"] == "u1" and event.payload["request_id"] == "r1"
    assert event.sent_at is None


def test_a_rolled_back_change_leaves_no_event(session):
    record_contact(session)
    session.rollback()
    assert count(session, Contact) == 0
    assert count(session, OutboxEvent) == 0


def test_the_relay_publishes_in_recorded_order_and_marks_sent(session):
    names = ["a", "b", "c"]
    for name in names:
        record_contact(session, name)
    session.commit()
    published = []
    assert relay_batch(session, OutboxEvent, published.append, limit=2) == 2
    assert relay_batch(session, OutboxEvent, published.append, limit=2) == 1
    assert relay_batch(session, OutboxEvent, published.append, limit=2) == 0
    assert [event["entity"]["first_name"] for event in published] == names
    assert backlog(session, OutboxEvent) == 0


def test_a_batch_published_at_once_goes_out_in_order_and_is_marked_sent_after(session):
    names = ["Ada", "Alan", "Grace"]
    for name in names:
        OutboxRecorder(OutboxEvent, {}).add(session, "contact.created", {"first_name": name})
    session.commit()
    batches = []

    def one_at_a_time(event):
        raise AssertionError("a batch publisher was given: no event goes out alone")

    assert relay_batch(session, OutboxEvent, one_at_a_time, limit=2, publish_many=batches.append) == 2
    assert relay_batch(session, OutboxEvent, one_at_a_time, limit=2, publish_many=batches.append) == 1
    assert relay_batch(session, OutboxEvent, one_at_a_time, limit=2, publish_many=batches.append) == 0
    assert [[event["entity"]["first_name"] for event in batch] for batch in batches] == [names[:2], names[2:]]
    assert backlog(session, OutboxEvent) == 0


def test_a_batch_that_fails_to_publish_stays_unsent(session):
    OutboxRecorder(OutboxEvent, {}).add(session, "contact.created", {"first_name": "Ada"})
    session.commit()

    def broker_down(events):
        raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError):
        relay_batch(session, OutboxEvent, None, publish_many=broker_down)
    session.rollback()
    assert backlog(session, OutboxEvent) == 1


def test_a_publish_that_fails_keeps_the_batch_for_the_next_round(session):
    record_contact(session, "a")
    record_contact(session, "b")
    session.commit()
    attempts = []

    def broker_down_after_first(event):
        attempts.append(event["entity"]["first_name"])
        if len(attempts) == 2:
            raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError):
        relay_batch(session, OutboxEvent, broker_down_after_first)
    session.rollback()
    # Nothing was marked sent: both go again (the first twice: at least once, deduplicated downstream).
    assert backlog(session, OutboxEvent) == 2
    again = []
    relay_batch(session, OutboxEvent, again.append)
    assert [event["entity"]["first_name"] for event in again] == ["a", "b"]


def test_timestamps_come_back_in_utc_whatever_zone_they_were_given_in(session):
    contact = record_contact(session)
    noon_utc = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    contact.deleted_at = noon_utc.astimezone(ZoneInfo("Europe/Berlin"))
    session.commit()
    session.expire_all()
    stored = session.get(Contact, contact.id).deleted_at
    assert stored == noon_utc and stored.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused(session):
    contact = record_contact(session)
    contact.deleted_at = datetime(2026, 7, 1, 12, 0)
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_the_outbox_is_the_audit_trail_of_an_entity(session):
    contact = record_contact(session, "a")
    record_contact(session, "someone else")
    OutboxRecorder(OutboxEvent, {"actor": "u2", "request_id": "r2"}).add(
        session, "contact.updated", {"id": contact.id}, changes={"last_name": ["Lovelace", "King"]}
    )
    session.commit()
    trail = audit_trail(session, OutboxEvent, "contact", contact.id)
    assert [(entry["type"], entry["actor"]) for entry in trail] == [
        ("contact.updated", "u2"),
        ("contact.created", "u1"),
    ]
    assert trail[0]["changes"] == {"last_name": ["Lovelace", "King"]}
    assert audit_trail(session, OutboxEvent, "company", contact.id) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SKIP LOCKED is PostgreSQL's
def test_two_relays_over_one_table_publish_each_event_exactly_once(session, database_url):
    for n in range(120):
        record_contact(session, f"c{n}")
    session.commit()
    published = {"first": [], "second": []}

    def relay(name: str) -> None:
        with Session(get_engine(database_url)) as own:

            def publish(event):
                published[name].append(event["event_id"])
                eventlet.sleep(0)  # hand over mid-batch, while this relay holds its rows locked

            while relay_batch(own, OutboxEvent, publish, limit=10):
                pass

    relays = [eventlet.spawn(relay, name) for name in published]
    for running in relays:
        running.wait()

    everything = published["first"] + published["second"]
    recorded = session.scalars(select(OutboxEvent.event_id)).all()
    assert sorted(everything) == sorted(recorded)  # each once: none twice, none missed
    assert published["first"] and published["second"]  # both relays really shared the work
    assert backlog(session, OutboxEvent) == 0


def test_a_batch_is_read_and_marked_sent_with_one_statement_each(session):
    for name in ("Ada", "Alan", "Grace"):
        OutboxRecorder(OutboxEvent, {}).add(session, "contact.created", {"first_name": name})
    session.commit()
    statements = []
    engine = session.get_bind()
    listen = ("before_cursor_execute", lambda *args: statements.append(args[2].split()[0]))
    event.listen(engine, *listen)

    assert relay_batch(session, OutboxEvent, None, limit=10, publish_many=lambda events: None) == 3
    event.remove(engine, *listen)

    assert statements == ["SELECT", "UPDATE"]  # not an UPDATE per event
    assert backlog(session, OutboxEvent) == 0


def test_a_relay_round_that_sends_less_than_a_batch_ends_without_looking_or_counting_again(session):
    for name in ("Ada", "Alan", "Grace"):
        OutboxRecorder(OutboxEvent, {}).add(session, "contact.created", {"first_name": name})
    session.commit()
    engine = session.get_bind()
    relay = Outbox(OutboxEvent)  # what `setup` makes, without a broker
    relay.service, relay.running, relay.importing, relay.batch = "contacts", True, 0, 10
    relay.make_session = sessionmaker(engine, expire_on_commit=False)
    published, reads = [], []
    relay.publish_many = published.extend
    listen = (
        "before_cursor_execute",
        lambda *args: reads.append(args[2]) if args[2].lstrip().startswith("SELECT") else None,
    )
    event.listen(engine, *listen)

    assert relay._relay_until_empty(0.0) == 0.0
    event.remove(engine, *listen)

    assert [e["entity"]["first_name"] for e in published] == ["Ada", "Alan", "Grace"]
    assert len(reads) == 1  # the batch; a kick from the next commit starts the next round
    assert backlog(session, OutboxEvent) == 0
