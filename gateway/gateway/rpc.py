"""RPC to the services with a deadline: a service that does not answer in time is a 503, not a hang.

The proxies are Nameko dependency providers, so the gateway keeps one reply queue and one pool of
broker connections for its lifetime; requests also expire in the broker at the deadline, so a call
the gateway gave up on is not executed later by a service that comes back.
"""

import logging
import time

import eventlet
from kombu.exceptions import OperationalError as BrokerError
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import ServiceRpc

from crm_kernel.config import rpc_timeout
from crm_kernel.errors import ServiceUnavailable, is_transient_failure
from crm_kernel.metrics import RPC_TIMEOUTS
from crm_kernel.rpc import DEADLINE

log = logging.getLogger(__name__)


class DeadlineServiceRpc(ServiceRpc):
    """`ServiceRpc` whose calls give up after `CRM_RPC_TIMEOUT` seconds with `ServiceUnavailable`."""

    def __init__(self, target_service: str, timeout: float | None = None):
        self.timeout = timeout or rpc_timeout()
        super().__init__(target_service, expiration=self.timeout)

    def get_dependency(self, worker_ctx):
        return DeadlineClient(
            super().get_dependency(worker_ctx), self.target_service, self.timeout, self.reply_listener
        )


class DeadlineClient:
    def __init__(self, client, service: str, timeout: float, reply_listener):
        self._client = client
        self._service = service
        self._timeout = timeout
        self._reply_listener = reply_listener

    def __getattr__(self, method: str):
        def call(*args, **kwargs):
            reply = None
            # Travels with the request: a service that gets it too late drops it unexecuted.
            self._client.context_data[DEADLINE] = str(time.time() + self._timeout)
            try:
                with eventlet.Timeout(self._timeout):
                    reply = getattr(self._client, method).call_async(*args, **kwargs)
                    return reply.result()
            except eventlet.Timeout:
                if reply is not None:
                    self._reply_listener.pending.pop(reply.correlation_id, None)
                RPC_TIMEOUTS.labels(self._service, method).inc()
                raise ServiceUnavailable(
                    f"the {self._service} service did not answer within {self._timeout:g}s"
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
