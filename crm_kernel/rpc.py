"""The RPC entrypoint of every service: Nameko's, minus requests whose caller has given up.

The gateway sends each request with a `deadline` (epoch seconds) in its context. A request still
queued or prefetched when that passes is dropped unexecuted: the caller has already answered 503,
and executing it later would make the client's retry a duplicate. Broker-side expiry covers requests
waiting in the queue; this covers those already delivered to a paused or busy service.
"""

import logging
import time

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko import config
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, NON_PERSISTENT
from nameko.messaging import decode_from_headers
from prometheus_client import Counter

from crm_kernel.errors import CrmError

DEADLINE = "deadline"
log = logging.getLogger(__name__)
# What a lost broker connection raises: amqp's errors, kombu's, and the socket's own (a reset is an OSError).
BROKER_ERRORS = (AmqpConnectionError, KombuOperationalError, OSError)
LOST_REPLIES = Counter("crm_rpc_lost_replies_total", "RPC replies lost with the broker connection.", ["method"])
EXPIRED_REQUESTS = Counter("crm_rpc_expired_requests_total", "RPC requests dropped after their deadline.", ["method"])


def deadline_passed(context_data: dict, now: float | None = None) -> bool:
    deadline = context_data.get(DEADLINE)
    try:
        return deadline is not None and float(deadline) < (now or time.time())
    except (TypeError, ValueError):
        return False


class TransientPublisher(Publisher):
    """Publishes messages the broker keeps in memory only (still confirmed once routed).

    RPC requests and replies are worth nothing after their caller's deadline (`CRM_RPC_TIMEOUT`), and
    a broker restart outlasts that: persisting them (Nameko's default) only made the broker write each
    one to disk before confirming it, 2.1-2.5 ms per publish against 0.3-0.5 ms (BENCHMARKS.md), twice
    per call. A request or reply lost with the broker is a 503 the client retries, as before; events
    (the outbox) stay persistent.
    """

    delivery_mode = NON_PERSISTENT


class TransientResponder(nameko_rpc.Responder):
    publisher_cls = TransientPublisher


class TransientReplies(nameko_rpc.RpcConsumer):
    """Nameko's RPC consumer, replying with transient messages (`TransientPublisher`)."""

    def handle_result(self, message, result, exc_info):
        ssl, login_method = config.get(AMQP_SSL_CONFIG_KEY), config.get(LOGIN_METHOD_CONFIG_KEY)
        responder = TransientResponder(
            self.amqp_uri, nameko_rpc.get_rpc_exchange(), message, ssl=ssl, login_method=login_method
        )
        result, exc_info = responder.send_response(result, exc_info)
        self.consumer.ack_message(message)
        return result, exc_info


class Rpc(nameko_rpc.Rpc):
    rpc_consumer = TransientReplies()

    def __init__(self, expected_exceptions=(CrmError,), **kwargs):
        # Errors a caller may expect (bad input, not found, ...) are logged as warnings, not errors.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_message(self, body, message):
        if deadline_passed(decode_from_headers(message.headers)):
            EXPIRED_REQUESTS.labels(self.method_name).inc()
            log.warning("dropped %s: its caller's deadline passed before it started", self.method_name)
            self.rpc_consumer.consumer.ack_message(message)
            return
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        """Reply and acknowledge; a broker connection lost meanwhile is logged, not raised.

        Raised, it would kill the container and so the process (Nameko treats an error in a worker's
        result handling as fatal). Unacknowledged, the request is redelivered once the broker is
        back: writes guarded by an idempotency key answer it with their first result.
        """
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKER_ERRORS as exc:
            LOST_REPLIES.labels(self.method_name).inc()
            log.warning("the reply to %s was lost with the broker connection: %s", self.method_name, exc)
            return result, exc_info


rpc = Rpc.decorator
