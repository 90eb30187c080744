"""The kernel's RPC dependency gives up at a deadline with a retryable error instead of hanging, and a
call made while serving another gives up no later than the served call's own deadline."""

import time

import pytest
from eventlet.event import Event
from kombu import Producer, pools
from nameko.constants import NON_PERSISTENT
from nameko.extensions import DependencyProvider
from nameko.testing.services import entrypoint_hook

from crm_kernel.deadline_rpc import DeadlineServiceRpc, ReplyQueue, call_deadline
from crm_kernel.errors import NotFound, ServiceUnavailable
from crm_kernel.rpc import DEADLINE, rpc

never = Event()


class Callee:
    name = "callee"
    calls = []

    @rpc
    def hang(self):
        never.wait()

    @rpc
    def missing(self):
        raise NotFound("no such thing")

    @rpc
    def record(self, label):
        Callee.calls.append(label)
        return label


class ContextData(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx.context_data


class Caller:
    name = "caller"
    context_data = ContextData()
    callee = DeadlineServiceRpc("callee", timeout=0.5)
    patient = DeadlineServiceRpc("callee", timeout=600)
    absent = DeadlineServiceRpc("absent", timeout=0.5)

    @rpc
    def call(self, target, method, *args):
        return getattr(getattr(self, target), method)(*args)

    @rpc
    def call_and_keep_context(self, target, method, *args):
        """The call's result and this worker's deadline afterwards."""
        result = getattr(getattr(self, target), method)(*args)
        return result, self.context_data.get(DEADLINE)


@pytest.fixture
def caller(rabbit_config, container_factory):
    Callee.calls.clear()
    container_factory(Callee).start()
    container = container_factory(Caller)
    container.start()
    return container


def test_a_service_that_does_not_answer_gives_service_unavailable(caller):
    with entrypoint_hook(caller, "call") as call, pytest.raises(ServiceUnavailable, match="did not answer within 0.5s"):
        call("callee", "hang")


def test_a_service_that_is_not_running_gives_service_unavailable(caller):
    with (
        entrypoint_hook(caller, "call") as call,
        pytest.raises(ServiceUnavailable, match="absent service is not running"),
    ):
        call("absent", "hang")


def test_a_service_error_crosses_rpc_as_itself(caller):
    with entrypoint_hook(caller, "call") as call, pytest.raises(NotFound, match="no such thing"):
        call("callee", "missing")


def test_the_served_calls_earlier_deadline_wins_over_the_timeout(caller):
    served_deadline = {DEADLINE: str(time.time() + 0.5)}
    with (
        entrypoint_hook(caller, "call", context_data=served_deadline) as call,
        pytest.raises(ServiceUnavailable, match="callee service did not answer"),
    ):
        call("patient", "hang")


def test_a_served_call_past_its_deadline_sends_nothing(caller):
    with (
        entrypoint_hook(caller, "call", context_data={DEADLINE: "1"}) as call,
        pytest.raises(ServiceUnavailable, match="no time was left to ask the callee service"),
    ):
        call("patient", "record", "too late")
    with entrypoint_hook(caller, "call") as call:
        assert call("callee", "record", "on time") == "on time"
    assert Callee.calls == ["on time"]


def test_the_workers_own_deadline_is_left_as_it_was(caller):
    served = str(time.time() + 300)
    with entrypoint_hook(caller, "call_and_keep_context", context_data={DEADLINE: served}) as call:
        assert call("callee", "record", "x") == ("x", served)


def test_a_call_is_due_at_the_earlier_of_its_timeout_and_the_served_deadline():
    assert call_deadline({}, 5, now=100) == 105
    assert call_deadline({DEADLINE: "102"}, 5, now=100) == 102
    assert call_deadline({DEADLINE: "200"}, 5, now=100) == 105
    assert call_deadline({DEADLINE: "soon"}, 5, now=100) == 105


def test_the_reply_queue_is_declared_once_per_broker_connection_not_before_every_call(caller, monkeypatch):
    declared_on = []  # the broker connection of each declaration
    declare = ReplyQueue.declare

    def counted(queue, *args, **kwargs):
        declared_on.append(id(queue.channel.connection.client))
        return declare(queue, *args, **kwargs)

    monkeypatch.setattr(ReplyQueue, "declare", counted)
    labels = [str(n) for n in range(20)]
    with entrypoint_hook(caller, "call") as call:
        assert [call("callee", "record", label) for label in labels] == labels
    assert 1 <= len(declared_on) == len(set(declared_on))  # each pooled connection once, not per call
    before = len(declared_on)
    pools.reset()  # the publishers' connections are gone, as after a broker restart
    with entrypoint_hook(caller, "call") as call:
        assert call("callee", "record", "after") == "after"
    assert len(declared_on) == before + 1  # the new connection declared it again


def test_requests_and_replies_are_transient_messages(caller, monkeypatch):
    published = []  # (routing key, delivery mode) of every message published meanwhile
    publish = Producer.publish

    def recorded(producer, body, *args, **kwargs):
        published.append((kwargs.get("routing_key"), kwargs.get("delivery_mode")))
        return publish(producer, body, *args, **kwargs)

    monkeypatch.setattr(Producer, "publish", recorded)
    with entrypoint_hook(caller, "call") as call:
        assert call("callee", "record", "x") == "x"

    request = [mode for key, mode in published if key == "callee.record"]
    replies = [mode for key, mode in published if key != "callee.record"]
    assert request == [NON_PERSISTENT] and replies == [NON_PERSISTENT]
