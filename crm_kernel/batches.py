"""Events consumed in batches: one worker, one transaction and one commit for many events.

`@batch_handler(service, event_type)` is Nameko's `event_handler` (same durable queue, same
SERVICE_POOL delivery) except that the decorated method receives a list of events: up to `size`
that arrived together, or what came within `linger` seconds of the first. Every message of a batch
is acknowledged only after the method returned (after its commit), and requeued when it raised, so
delivery stays at least once; the method must drop events it has applied before (by `event_id`).

A batch that succeeded is acknowledged with one `basic_ack(multiple=True)` when its deliveries are
the oldest unsettled ones of their channel (`Deliveries`); otherwise (another batch's messages are
older and still being applied) message by message, since a multiple acknowledgement covers every
delivery of the channel up to its tag.
"""

import itertools
import logging
import os

import eventlet
from nameko.exceptions import ContainerBeingKilled

from crm_kernel.events import EventConsumer
from crm_kernel.rpc import BROKER_ERRORS

log = logging.getLogger(__name__)

# Events per batch at most (1 applies each in a transaction of its own, as before batches).
DEFAULT_SIZE = int(os.environ.get("CRM_EVENT_BATCH", "500"))
DEFAULT_LINGER = 0.02  # seconds: a lone event waits at most this long for company


class Deliveries:
    """The deliveries a consumer received and has not settled yet, per channel, in the order the broker
    sent them (its delivery tags grow per channel, and messages reach the handler in that order)."""

    def __init__(self):
        self._open: dict = {}  # channel -> {delivery_tag: None}: a dict keeps the order of arrival

    def received(self, message) -> None:
        self._open.setdefault(message.channel, {})[message.delivery_tag] = None

    def settled(self, message) -> None:
        tags = self._open.get(message.channel)
        if tags is not None:
            tags.pop(message.delivery_tag, None)
            if not tags:
                del self._open[message.channel]

    def are_oldest(self, messages: list) -> bool:
        """Whether `messages` are exactly the oldest unsettled deliveries of one channel, so that one
        acknowledgement of the newest of them with `multiple` covers them and nothing else."""
        channels = {message.channel for message in messages}
        if len(channels) != 1:
            return False
        tags = {message.delivery_tag for message in messages}
        oldest = self._open.get(channels.pop(), {})
        return len(tags) == len(messages) and set(itertools.islice(oldest, len(tags))) == tags


class BatchEventHandler(EventConsumer):
    """A failed batch is settled message by message as `EventConsumer` settles one (an outage puts it
    back, a poison event is parked after its deliveries), with one pause for the whole batch."""

    def __init__(self, source_service, event_type, size: int = DEFAULT_SIZE, linger: float = DEFAULT_LINGER, **kwargs):
        # Two batches' worth in flight (the next fills while the previous one is applied), and never
        # fewer than Nameko's default of 10, so that batches of 1 work as Nameko's own handler did.
        kwargs.setdefault("prefetch_count", max(2 * size, 10))
        super().__init__(source_service, event_type, **kwargs)
        self.size, self.linger = size, linger

    def setup(self):
        super().setup()
        self.pending: list = []
        self.generation = 0
        self.deliveries = Deliveries()

    def handle_message(self, body, message):
        self.deliveries.received(message)
        self.pending.append((body, message))
        if len(self.pending) >= self.size:
            self._flush()
        elif len(self.pending) == 1:
            generation = self.generation
            self.container.spawn_managed_thread(lambda: self._flush_later(generation))

    def _flush_later(self, generation: int) -> None:
        eventlet.sleep(self.linger)
        if generation == self.generation and self.pending:
            self._flush()

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        self.generation += 1
        messages = [message for _, message in batch]

        def handle_result(worker_ctx, result=None, exc_info=None):
            if exc_info is None and self.deliveries.are_oldest(messages):
                self.acknowledge_all(messages)
            else:
                if exc_info is not None:
                    eventlet.sleep(self.transient_pause)  # once for the batch, not once for each of its events
                for message in messages:
                    self.handle_message_processed(message, result, exc_info, pause=False)
            for message in messages:
                self.deliveries.settled(message)
            return result, exc_info

        def spawn_worker():
            try:
                self.container.spawn_worker(self, ([body for body, _ in batch],), {}, handle_result=handle_result)
            except ContainerBeingKilled:
                for message in messages:
                    self.consumer.requeue_message(message)
                    self.deliveries.settled(message)

        # As Nameko's own consumer does: never block the AMQP consumer on a full worker pool.
        self.container.spawn_managed_thread(spawn_worker, identifier=f"batch[{self.method_name}]")

    def acknowledge_all(self, messages: list) -> None:
        """One `basic_ack(multiple=True)` for `messages`, the oldest unsettled deliveries of their channel."""
        newest = max(messages, key=lambda message: message.delivery_tag)
        if not newest.channel.connection:
            return  # the connection is gone: the broker gives them to a consumer again
        try:
            newest.ack(multiple=True)
        except BROKER_ERRORS as exc:
            log.warning("broker connection lost acknowledging a batch of %s (%s); it comes again", self.queue, exc)


batch_handler = BatchEventHandler.decorator
