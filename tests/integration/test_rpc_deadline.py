"""The gateway's RPC proxies give up at a deadline with a retryable error instead of hanging."""

import pytest
from eventlet.event import Event
from nameko.standalone.rpc import ServiceRpcClient
from nameko.testing.services import entrypoint_hook

from crm_kernel.context import RequestContext
from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.errors import NotFound, ServiceUnavailable
from crm_kernel.rpc import rpc

never = Event()


class Silent:
    """A service that takes requests and never answers."""

    name = "silent"

    @rpc
    def ping(self):
        never.wait()

    @rpc
    def missing(self):
        raise NotFound("no such thing")

    context = RequestContext()
    calls = []

    @rpc
    def whoami(self):
        return self.context.request_id

    @rpc
    def count(self, label):
        Silent.calls.append(label)
        return list(Silent.calls)


class Caller:
    name = "caller"
    silent = DeadlineServiceRpc("silent", timeout=0.5)
    absent = DeadlineServiceRpc("absent", timeout=0.5)

    @rpc
    def call(self, target, method):
        return getattr(getattr(self, target), method)()


@pytest.fixture
def caller(rabbit_config, container_factory):
    silent = container_factory(Silent)
    silent.start()
    container = container_factory(Caller)
    container.start()
    return container


def test_a_service_that_does_not_answer_gives_service_unavailable(caller):
    with entrypoint_hook(caller, "call") as call, pytest.raises(ServiceUnavailable, match="did not answer within 0.5s"):
        call("silent", "ping")


def test_a_service_that_is_not_running_gives_service_unavailable(caller):
    with entrypoint_hook(caller, "call") as call, pytest.raises(ServiceUnavailable, match="not running"):
        call("absent", "ping")


def test_a_service_error_crosses_rpc_as_itself(caller):
    with entrypoint_hook(caller, "call") as call, pytest.raises(NotFound, match="no such thing"):
        call("silent", "missing")


def test_the_request_id_follows_the_call(caller):
    with entrypoint_hook(caller, "call", context_data={"request_id": "req-99"}) as call:
        assert call("silent", "whoami") == "req-99"


def test_a_request_whose_deadline_passed_is_dropped_unexecuted(caller):
    Silent.calls.clear()
    with ServiceRpcClient("silent", context_data={"deadline": "1"}) as late:
        late.count.call_async("too late")
    with ServiceRpcClient("silent", timeout=10) as on_time:
        # Requests are handled in the order they arrive: the late one came first, and was dropped.
        assert on_time.count("on time") == ["on time"]
