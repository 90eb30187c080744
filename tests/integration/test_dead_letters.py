"""A poison event is parked after a few deliveries, counted, listed, and re-delivered by command;
an outage of a dependency delays events without parking them."""

import pika
import pytest
from eventlet.event import Event
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy.exc import OperationalError

from crm_kernel import deadletters
from crm_kernel.events import DEAD_LETTERED, dead_letter_queue, event_consumer

QUEUE = "evt-upstream-thing.happened--picky.on_thing"
DEAD = f"parked.{QUEUE}"


class Picky:
    """Fails on events marked poison until `cured`; fails transiently while `database_down`."""

    name = "picky"
    applied: list = []
    cured = False
    database_down = 0
    calls = {"poison": 0, "outage": 0}
    done = Event()

    @event_consumer("upstream", "thing.happened")
    def on_thing(self, event):
        kind = event.get("kind")
        if kind == "poison" and not Picky.cured:
            Picky.calls["poison"] += 1
            raise ValueError("cannot apply this event")
        if kind == "outage" and Picky.database_down > 0:
            Picky.database_down -= 1
            Picky.calls["outage"] += 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))
        Picky.applied.append(event["event_id"])


@pytest.fixture
def picky(rabbit_config, container_factory, monkeypatch):
    monkeypatch.setenv("CRM_EVENT_MAX_DELIVERIES", "3")
    monkeypatch.setattr("crm_kernel.events.EventConsumer.transient_pause", 0.05)
    Picky.applied, Picky.cured, Picky.database_down = [], False, 0
    Picky.calls = {"poison": 0, "outage": 0}
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    for queue in (QUEUE, DEAD):  # purged, not deleted: publishers remember what they declared
        channel.queue_declare(queue, durable=True)
        channel.queue_purge(queue)
    connection.close()
    container = container_factory(Picky)
    container.start()
    return container


def dead_lettered() -> float:
    return DEAD_LETTERED.labels("picky", QUEUE)._value.get()


def test_a_poison_event_is_parked_after_the_allowed_deliveries_and_counted(picky, rabbit_config):
    before = dead_lettered()
    dispatch = event_dispatcher()
    with entrypoint_waiter(picky, "on_thing", callback=lambda *a: Picky.calls["poison"] == 3, timeout=30):
        dispatch("upstream", "thing.happened", {"event_id": "e-poison", "kind": "poison"})
    # an event behind the poison one is not held up
    with entrypoint_waiter(picky, "on_thing", timeout=30):
        dispatch("upstream", "thing.happened", {"event_id": "e-fine", "kind": "fine"})

    parked = deadletters.list_parked(rabbit_config["AMQP_URI"], [DEAD])
    assert [(p["event_id"], p["queue"], p["deliveries"]) for p in parked] == [("e-poison", QUEUE, 3)]
    assert "cannot apply this event" in parked[0]["error"]
    assert dead_lettered() == before + 1
    assert Picky.calls["poison"] == 3 and Picky.applied == ["e-fine"]
    # listing leaves it parked, as often as one lists
    for _ in range(3):
        assert len(deadletters.list_parked(rabbit_config["AMQP_URI"], [DEAD])) == 1


def test_the_command_redelivers_a_parked_event_to_its_queue(picky, rabbit_config):
    dispatch = event_dispatcher()
    with entrypoint_waiter(picky, "on_thing", callback=lambda *a: Picky.calls["poison"] == 3, timeout=30):
        dispatch("upstream", "thing.happened", {"event_id": "e-poison", "kind": "poison"})
    Picky.cured = True
    with entrypoint_waiter(picky, "on_thing", timeout=30):
        redelivered = deadletters.redeliver(rabbit_config["AMQP_URI"], queue=QUEUE, dead_letter_queues=[DEAD])
    assert [item["event_id"] for item in redelivered] == ["e-poison"]
    assert Picky.applied == ["e-poison"]
    assert deadletters.list_parked(rabbit_config["AMQP_URI"], [DEAD]) == []


def test_an_outage_of_a_dependency_delays_an_event_without_parking_it(picky, rabbit_config):
    Picky.database_down = 6  # more failures than deliveries allowed for a poison event
    before = dead_lettered()
    with entrypoint_waiter(picky, "on_thing", callback=lambda *a: Picky.applied == ["e-late"], timeout=30):
        event_dispatcher()("upstream", "thing.happened", {"event_id": "e-late", "kind": "outage"})
    assert Picky.calls["outage"] == 6
    assert dead_lettered() == before
    assert deadletters.list_parked(rabbit_config["AMQP_URI"], [DEAD]) == []


def test_every_event_queue_of_the_services_has_its_dead_letter_queue():
    names = deadletters.dead_letter_queue_names()
    assert "parked.evt-contacts-contact.created--reporting.on_contact_created" in names
    assert "crm.dead-letters" in names  # where Kubernetes' quorum queues dead-letter by policy
    assert dead_letter_queue("q").routing_key == "q"


def test_an_event_the_broker_dead_lettered_goes_back_to_the_queue_its_x_death_names(picky, rabbit_config):
    """Kubernetes' quorum queues dead-letter by policy to `crm.dead-letters`, recording the queue in x-death."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    channel = connection.channel()
    channel.queue_declare("crm.dead-letters", durable=True)
    channel.queue_purge("crm.dead-letters")
    headers = {"x-death": [{"queue": QUEUE, "reason": "delivery_limit", "count": 50}]}
    body = b'{"event_id": "e-limit", "kind": "fine"}'
    channel.basic_publish("", "crm.dead-letters", body, pika.BasicProperties(content_type="application/json",
                                                                             headers=headers))  # fmt: skip
    connection.close()

    [listed] = deadletters.list_parked(rabbit_config["AMQP_URI"], ["crm.dead-letters"])
    assert (listed["event_id"], listed["queue"]) == ("e-limit", QUEUE)
    with entrypoint_waiter(picky, "on_thing", timeout=30):
        deadletters.redeliver(rabbit_config["AMQP_URI"], dead_letter_queues=["crm.dead-letters"])
    assert Picky.applied == ["e-limit"]
