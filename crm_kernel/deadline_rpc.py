"""RPC to another service with a deadline: a service that does not answer in time is a 503, not a hang.

Nameko's `ServiceRpc` waits for a reply forever. `DeadlineServiceRpc` is the same dependency
provider (one reply queue and one pool of broker connections for the container's lifetime) whose
calls give up with `ServiceUnavailable`, the kernel's retryable error, after `timeout` seconds, or
sooner when the call being served carries an earlier deadline of its own (the gateway's): nobody
waits for an answer its own caller has stopped waiting for. The deadline travels with the request,
so the callee drops it unexecuted if it gets it too late (`crm_kernel.rpc.Rpc`), and the broker
expires requests still queued after `timeout`.
"""

import logging
import time

import eventlet
from kombu import Queue
from kombu.exceptions import OperationalError as BrokerError
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import Client, ServiceRpc

from crm_kernel.config import rpc_timeout
from crm_kernel.errors import ServiceUnavailable, is_transient_failure
from crm_kernel.metrics import RPC_TIMEOUTS
from crm_kernel.rpc import DEADLINE

log = logging.getLogger(__name__)


def call_deadline(context_data: dict, timeout: float, now: float) -> float:
    """When a call made now must be answered: after `timeout`, or at the served call's deadline if
    that comes first (an unreadable inherited deadline is ignored)."""
    try:
        inherited = float(context_data[DEADLINE])
    except (KeyError, TypeError, ValueError):
        return now + timeout
    return min(now + timeout, inherited)


class DeadlineServiceRpc(ServiceRpc):
    """`ServiceRpc` whose calls give up after `timeout` seconds (default `CRM_RPC_TIMEOUT`) with
    `ServiceUnavailable`."""

    def __init__(self, target_service: str, timeout: float | None = None):
        self.timeout = timeout or rpc_timeout()
        # Transient: a request is worth nothing after its deadline (`crm_kernel.rpc.TransientPublisher`).
        super().__init__(target_service, expiration=self.timeout, delivery_mode=NON_PERSISTENT)

    def setup(self):
        super().setup()
        # Nameko declares the reply queue before every request it publishes: three broker round trips
        # (exchange, queue, binding) per call, since kombu never caches an expiring queue's declaration.
        self.publisher.declare = [ReplyQueue.like(self.reply_listener.queue)]

    def get_dependency(self, worker_ctx):
        return DeadlineClient(
            super().get_dependency(worker_ctx), self.target_service, self.timeout, self.reply_listener
        )


class ReplyQueue(Queue):
    """A reply queue declared once per broker connection instead of before every request.

    kombu caches declarations per connection and forgets them when it reconnects, but not for a
    queue with `x-expires` (Nameko's reply queues expire 5 minutes after their consumer goes): such a
    queue is declared again on every publish in case it expired. Ours cannot expire while its process
    runs, because the process's reply listener consumes it; after a broker restart the publisher's new
    connection declares it again, and so does the listener when it reconnects.
    """

    @property
    def can_cache_declaration(self) -> bool:
        return True

    @classmethod
    def like(cls, queue: Queue) -> "ReplyQueue":
        return cls(
            queue.name, exchange=queue.exchange, routing_key=queue.routing_key, queue_arguments=queue.queue_arguments
        )


class DeadlineClient:
    """Calls `service.method(...)` like Nameko's client, within the deadline."""

    def __init__(self, client: Client, service: str, timeout: float, reply_listener):
        self._client = client
        self._service = service
        self._timeout = timeout
        self._reply_listener = reply_listener

    def __getattr__(self, method: str):
        def call(*args, **kwargs):
            now = time.time()
            deadline = call_deadline(self._client.context_data, self._timeout, now)
            if deadline <= now:
                raise ServiceUnavailable(f"no time was left to ask the {self._service} service")
            # A copy: the worker's own context data (sent with its events and other calls) keeps its deadline.
            context_data = {**self._client.context_data, DEADLINE: str(deadline)}
            target = Client(self._client.publish, self._client.register_for_reply, context_data, self._service, method)
            reply = None
            try:
                with eventlet.Timeout(deadline - now):
                    reply = target.call_async(*args, **kwargs)
                    return reply.result()
            except eventlet.Timeout:
                if reply is not None:
                    self._reply_listener.pending.pop(reply.correlation_id, None)
                RPC_TIMEOUTS.labels(self._service, method).inc()
                raise ServiceUnavailable(
                    f"the {self._service} service did not answer within {deadline - now:g}s"
                ) from None
            except UnknownService:
                raise ServiceUnavailable(f"the {self._service} service is not running") from None
            except (BrokerError, OSError) as exc:
                log.warning("broker unavailable calling %s.%s: %s", self._service, method, exc)
                raise ServiceUnavailable("the message broker is unavailable") from None
            except RemoteError as exc:
                if is_transient_failure(exc.exc_type, str(exc.value)):
                    log.warning("%s.%s failed transiently: %s", self._service, method, exc)
                    raise ServiceUnavailable(f"the {self._service} service cannot reach its database") from None
                raise

        return call
