"""The outbox relay meets a RabbitMQ that stops and comes back: nothing is lost, nothing is doubled.

The broker here is a private RabbitMQ node of this test, on ports of its own, started and stopped
by the test. The shared broker of the machine is never touched: other runs depend on it.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import eventlet
import pika
import pytest
from leftovers import TEMP_PREFIX, VHOST_PREFIX, rabbit_node_name, run_stamp, sweep_rabbit_nodes
from nameko import config
from prometheus_client import REGISTRY
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from contacts.models import OutboxEvent
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import Outbox, OutboxRecorder, backlog


def _listened(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port(low: int, high: int) -> int:
    for port in range(low + os.getpid() % 997, high, 2):
        if not any(_listened(each) for each in (port, port + 1, port + 20000)):
            return port
    raise RuntimeError("no free port for a private RabbitMQ node")


class PrivateRabbit:
    """One RabbitMQ node of this test: its own name, ports, data and configuration files."""

    def __init__(self, base: Path, name: str):
        self.port = _free_port(25700, 29000)  # and port + 20000 for Erlang distribution
        self.node = f"{name}@localhost"
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nmanagement.tcp.port = {self.port + 1}\n"
        )
        (base / "rabbitmq-env.conf").write_text(
            'ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
        )
        (base / "enabled_plugins").write_text("[].\n")
        self.env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.port + 20000),
            RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"),
            RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        )
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.base = base
        self.process = None

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args], env=self.env, check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:  # the node answers once Erlang is up; it has started when await_startup returns
            assert self.process.poll() is None, (self.base / "server.log").read_text()[-3000:]
            try:
                self.ctl("await_startup", "--timeout", "60")
                return
            except subprocess.CalledProcessError:
                assert time.monotonic() < deadline, "the private RabbitMQ node did not start"
                time.sleep(0.5)

    def stop(self) -> None:
        self.ctl("stop")  # this node only: -n names it
        self.process.wait(timeout=60)


@contextmanager
def private_node(name: str):
    """A private RabbitMQ node called `name`, started, and stopped and removed afterwards."""
    # Debian's rabbitmq-server runs the node as the `rabbitmq` user: its directory must be theirs, and
    # outside pytest's (root-only) temporary directories. Named like this run's, so a sweep finds it.
    base = Path(tempfile.gettempdir()) / f"{TEMP_PREFIX}{run_stamp()}-rabbit-{uuid.uuid4().hex[:6]}"
    base.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(base, "rabbitmq", "rabbitmq")
    rabbit = PrivateRabbit(base, name)
    try:
        rabbit.start()
        yield rabbit
    finally:
        if rabbit.process is not None and rabbit.process.poll() is None:
            rabbit.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def private_rabbit():
    sweep_rabbit_nodes()  # those that killed runs of this test left running, never another's
    with private_node(rabbit_node_name()) as rabbit:
        yield rabbit


def test_a_private_node_left_running_by_a_run_that_ended_is_stopped_by_the_next_one():
    ended = subprocess.run(
        [sys.executable, "-c", "import leftovers; print(leftovers.run_stamp())"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    name = f"{VHOST_PREFIX}{ended}-{uuid.uuid4().hex[:6]}"
    with private_node(name) as left_behind:
        assert name in sweep_rabbit_nodes()
        assert left_behind.process.wait(timeout=60) is not None  # the node stopped
        assert name not in subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout


class Container:
    """What the outbox needs of a Nameko container, without one: its name and a way to run a thread."""

    service_name = "contacts"

    def spawn_managed_thread(self, run, identifier=None):
        return eventlet.spawn(run)


def eventually(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, "not within the time given"
        eventlet.sleep(0.1)
    return result


def test_the_relay_keeps_events_while_the_broker_is_down_and_publishes_each_once_when_it_is_back(
    private_rabbit, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    upgrade("contacts", url)
    monkeypatch.setenv("CONTACTS_DATABASE_URL", url)
    monkeypatch.setenv("AMQP_URI", private_rabbit.uri)
    queue = "relay-restart-probe"
    connection = pika.BlockingConnection(pika.URLParameters(private_rabbit.uri))
    channel = connection.channel()
    channel.exchange_declare("contacts.events", "topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, "contacts.events", "#")
    connection.close()
    engine = create_engine(url)

    def record(name: str) -> str:
        with Session(engine) as session:
            event = OutboxRecorder(OutboxEvent, {"actor": "u1"}).add(session, "contact.created", {"id": name})
            session.commit()
        return event["event_id"]

    def unsent() -> int:
        with Session(engine) as session:
            return backlog(session, OutboxEvent)

    def failures() -> float:
        return REGISTRY.get_sample_value("crm_outbox_relay_failures_total", {"service": "contacts"}) or 0.0

    with config.patch({"AMQP_URI": private_rabbit.uri}):
        outbox = Outbox(OutboxEvent)
        outbox.container = Container()
        outbox.idle_interval = 0.2
        outbox.setup()
        outbox.start()
        try:
            recorded = [record("before")]
            eventually(lambda: unsent() == 0)

            private_rabbit.stop()
            failed_before = failures()
            recorded += [record("during-1"), record("during-2")]
            outbox.kick()
            eventually(lambda: failures() > failed_before)  # the relay met the stopped broker
            assert unsent() == 2  # and kept what it could not publish

            private_rabbit.start()
            eventually(lambda: unsent() == 0)
        finally:
            outbox.stop()

    connection = pika.BlockingConnection(pika.URLParameters(private_rabbit.uri))
    channel = connection.channel()
    delivered = []
    while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
        delivered.append(json.loads(message[2])["event_id"])
    connection.close()
    engine.dispose()
    assert delivered == recorded  # each once, in the order recorded, none lost across the restart
