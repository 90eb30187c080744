"""The outbox relay is woken by the workers that recorded events, not by every read."""

from eventlet.queue import LightQueue

from contacts.models import OutboxEvent
from crm_kernel.outbox import Outbox


class Worker:
    """What the dependency reads of a worker context: its call data (hashed by identity, as Nameko's)."""

    def __init__(self):
        self.data = {}


class Session:
    def __init__(self):
        self.added = []

    def add(self, row):
        self.added.append(row)


def outbox_between_workers() -> Outbox:
    outbox = Outbox(OutboxEvent)
    outbox.kicks, outbox.recorders = LightQueue(maxsize=1), {}  # what `setup` makes, without a broker
    return outbox


def test_a_worker_that_recorded_nothing_leaves_the_relay_asleep():
    outbox = outbox_between_workers()
    reader = Worker()
    outbox.get_dependency(reader)

    outbox.worker_teardown(reader)

    assert outbox.kicks.qsize() == 0
    assert outbox.recorders == {}


def test_a_worker_that_recorded_an_event_wakes_the_relay():
    outbox = outbox_between_workers()
    writer, reader = Worker(), Worker()
    outbox.get_dependency(writer).add(Session(), "contact.created", {"id": "c1"})
    outbox.get_dependency(reader)

    outbox.worker_teardown(reader)
    outbox.worker_teardown(writer)

    assert outbox.kicks.qsize() == 1
    assert outbox.recorders == {}
