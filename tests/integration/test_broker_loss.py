"""A broker connection lost while a worker replies or acknowledges does not kill the service.

Nameko treats an error in a worker's result handling as fatal: the container dies and `nameko run`
exits. A socket reset there (an `OSError`, which Nameko's own ack does not catch) is what made
services exit during a RabbitMQ outage; the kernel's entrypoints log it instead, and the broker
redelivers the unacknowledged message."""

import pytest
from nameko.rpc import Responder
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient
from nameko.testing.services import entrypoint_waiter

from crm_kernel.events import event_consumer
from crm_kernel.rpc import LOST_REPLIES, rpc


class Echo:
    name = "echo"
    seen: list = []

    @rpc
    def echo(self, value):
        return value

    @event_consumer("upstream", "ping")
    def on_ping(self, event):
        Echo.seen.append(event["event_id"])


@pytest.fixture
def echo(rabbit_config, container_factory):
    Echo.seen = []
    container = container_factory(Echo)
    container.start()
    return container


def test_a_reply_lost_with_the_connection_leaves_the_service_running(echo, rabbit_config, monkeypatch):
    send_response = Responder.send_response
    calls = []

    def reset_once(self, result, exc_info):
        calls.append(result)
        if len(calls) == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return send_response(self, result, exc_info)

    monkeypatch.setattr(Responder, "send_response", reset_once)
    before = LOST_REPLIES.labels("echo")._value.get()
    with ClusterRpcClient(timeout=20) as client:
        # The first reply is lost and its request left unacknowledged (the broker gives it to a
        # consumer again once that connection is really gone); the service goes on serving.
        client.echo.echo.call_async("first")
        assert client.echo.echo("second") == "second"
        assert not echo._died.ready()
        assert LOST_REPLIES.labels("echo")._value.get() == before + 1


def test_an_acknowledgement_lost_with_the_connection_leaves_the_service_running(echo, monkeypatch):
    from nameko.amqp.consume import Consumer

    ack = Consumer.ack_message
    calls = []

    def reset_once(self, message):
        calls.append(message)
        if len(calls) == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return ack(self, message)

    monkeypatch.setattr(Consumer, "ack_message", reset_once)
    with entrypoint_waiter(echo, "on_ping", timeout=20):
        event_dispatcher()("upstream", "ping", {"event_id": "e1"})
    with entrypoint_waiter(echo, "on_ping", timeout=20):
        event_dispatcher()("upstream", "ping", {"event_id": "e2"})
    assert not echo._died.ready()
    assert Echo.seen[:2] == ["e1", "e2"]
