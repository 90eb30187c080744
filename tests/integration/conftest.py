"""Services in Nameko containers over the real RabbitMQ (a virtual host of the test run)."""

import pika
import pytest

from crm_kernel.migrations import upgrade
from crm_kernel.topology import declare_event_queues, service_class


def purge(uri: str, queues: list[str]) -> None:
    """Empty the service's durable event queues: events other tests left there are not this test's."""
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    for queue in queues:
        channel.queue_purge(queue)
    connection.close()


@pytest.fixture
def prepared(rabbit_config, tmp_path, monkeypatch):
    """`prepared("contacts", ...)`: each service gets a fresh SQLite database and its event queues."""

    def prepare(*services):
        for service in services:
            url = f"sqlite:///{tmp_path / service}.db"
            monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", url)
            upgrade(service, url)
            queues = declare_event_queues(service_class(service), rabbit_config["AMQP_URI"])
            purge(rabbit_config["AMQP_URI"], queues)

    return prepare


@pytest.fixture
def start(container_factory, prepared):
    """Start the named services' real classes; returns their containers in order."""

    def start_services(*services):
        prepared(*services)
        containers = [container_factory(service_class(name)) for name in services]
        for container in containers:
            container.start()
        return containers

    return start_services
