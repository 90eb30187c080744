"""The RPC entrypoint of every service: Nameko's, minus requests whose caller has given up.

The gateway sends each request with a `deadline` (epoch seconds) in its context. A request still
queued or prefetched when that passes is dropped unexecuted: the caller has already answered 503,
and executing it later would make the client's retry a duplicate. Broker-side expiry covers requests
waiting in the queue; this covers those already delivered to a paused or busy service.
"""

import logging
import time

from nameko import rpc as nameko_rpc
from nameko.messaging import decode_from_headers
from prometheus_client import Counter

from crm_kernel.errors import CrmError

DEADLINE = "deadline"
log = logging.getLogger(__name__)
EXPIRED_REQUESTS = Counter("crm_rpc_expired_requests_total", "RPC requests dropped after their deadline.", ["method"])


def deadline_passed(context_data: dict, now: float | None = None) -> bool:
    deadline = context_data.get(DEADLINE)
    try:
        return deadline is not None and float(deadline) < (now or time.time())
    except (TypeError, ValueError):
        return False


class Rpc(nameko_rpc.Rpc):
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


rpc = Rpc.decorator
