"""Whether a service process has finished starting, and a stop that comes before it has.

Nameko starts a container's extensions side by side, and each AMQP consumer's start (RPC, events,
RPC replies) waits for that consumer's first connection to the broker. The HTTP server is up before
they are, so `/readyz` answered 200 while consumers were still connecting; and a stop in that window
(SIGTERM from the supervisor, Kubernetes or a test) killed the consumers' threads while their starts
went on waiting for a connection that would never come: `nameko run` never returned and the process
never exited (tests/deploy/test_shutdown.py timed out so when a loaded broker was slow to accept
reporting's connections). `Startup` tells `/readyz` whether every consumer has connected, and when the
container stops it ends the waits of the starts still pending.
"""

from collections.abc import Iterator

from nameko.extensions import DependencyProvider


class Startup(DependencyProvider):
    """What a worker sees: `complete()`, True once every consumer of the container has connected."""

    def _consumers(self) -> Iterator:
        # Nameko's consumer helper (`nameko.amqp.consume.Consumer`) is the `consumer` of event handlers,
        # of the shared RPC consumer and of RPC reply listeners; its `ready` is set on first connection.
        for extension in self.container.extensions:
            consumer = getattr(extension, "consumer", None)
            if consumer is not None and hasattr(consumer, "ready"):
                yield consumer

    def complete(self) -> bool:
        return all(consumer.ready.is_set() for consumer in self._consumers())

    def get_dependency(self, worker_ctx):
        return self

    def stop(self):
        # Dependencies stop after the entrypoints and their workers, before Nameko kills the consumers'
        # threads: a start still waiting for its consumer's connection returns now, and the
        # container's start with it, so the process can exit.
        for consumer in self._consumers():
            consumer.ready.set()

    def kill(self):
        self.stop()
