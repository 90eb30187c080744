"""Shared fixtures. Eventlet must patch the standard library before anything else imports it:
since Nameko 2.14 the pytest plugin no longer does, and an unpatched run can hang."""

import eventlet

eventlet.monkey_patch()

import pytest_timeout  # noqa: E402

# pytest-timeout uses SIGALRM only when the test runs in the main thread, which it asks `threading`;
# patched, that answers with a green thread, and the plugin falls back to its timer thread, which
# ends the whole run at the first timeout. The unpatched module answers truly.
pytest_timeout.threading = eventlet.patcher.original("threading")

import os  # noqa: E402
import uuid  # noqa: E402

import pg8000.native  # noqa: E402
import pytest  # noqa: E402
from leftovers import (  # noqa: E402
    PG_ADMIN,
    database_prefix,
    rabbitmqctl,
    run_temp_dir,
    sweep_databases,
    sweep_temp_dirs,
    sweep_vhosts,
    vhost_name,
)
from nameko import config  # noqa: E402

from crm_kernel.config import pg_driver  # noqa: E402
from crm_kernel.db import dispose_engines, make_psycopg2_green  # noqa: E402

BROKER = os.environ.get("CRM_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Temporary files in a directory of this run's own (see `leftovers.run_temp_dir`), unless
    `--basetemp` says otherwise; those of ended runs are removed."""
    if config.option.basetemp is None:
        sweep_temp_dirs()
        config.option.basetemp = str(run_temp_dir())


@pytest.fixture
def clock(monkeypatch):
    """`clock(at, *modules)`: `utcnow()` as those modules imported it returns `at` for this test.

    A test that depends on "now" (SLA clocks, weekdays, report periods) decides what now is, so it
    passes on any day it runs and fails only when the behaviour breaks.
    """

    def set_to(at, *modules):
        for module in modules:
            monkeypatch.setattr(module, "utcnow", lambda: at)

    return set_to


@pytest.fixture(scope="session")
def make_vhost():
    """`make_vhost()`: a RabbitMQ virtual host of its own, deleted at the end of the run.

    A running system under test consumes from the same queue names as the services the
    integration tests start, so each gets its own virtual host to not steal their messages.
    """
    sweep_vhosts()
    created = []

    def make() -> str:
        vhost = vhost_name()
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        created.append(vhost)
        return f"{BROKER}/{vhost}"

    yield make
    for vhost in created:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def amqp_vhost_uri(make_vhost):
    """The virtual host of the integration tests."""
    return make_vhost()


@pytest.fixture
def rabbit_config(amqp_vhost_uri, monkeypatch):
    """Nameko and the kernel both pointed at the test virtual host."""
    monkeypatch.setenv("AMQP_URI", amqp_vhost_uri)
    with config.patch({"AMQP_URI": amqp_vhost_uri, "serializer": "json"}):
        yield {"AMQP_URI": amqp_vhost_uri}


class PostgresDatabases:
    """Creates throw-away PostgreSQL databases and drops them at the end of the session."""

    def __init__(self):
        self.created = []
        self.prefix = database_prefix()

    def create(self, name: str) -> str:
        database = f"{self.prefix}_{name}_{len(self.created)}"
        admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
        admin.run(f'CREATE DATABASE "{database}"')
        admin.close()
        self.created.append(database)
        # The project's driver; CRM_PG_DRIVER=pg8000 runs the suite on the other (crm_kernel.config).
        driver = pg_driver()
        if driver == "psycopg2":
            make_psycopg2_green()  # as every service process does
        return f"postgresql+{driver}://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{database}"

    def drop_all(self):
        dispose_engines()
        admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
        for database in self.created:
            admin.run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def postgres():
    sweep_databases()
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database URL on each engine the project supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres").create(uuid.uuid4().hex[:8])


@pytest.fixture
def broker_user(amqp_vhost_uri):
    """`broker_user(service)`: an AMQP URI for a RabbitMQ user of the test's own, holding exactly
    `crm_kernel.topology.broker_permissions` of `service` in the integration tests' virtual host."""
    from crm_kernel.topology import broker_permissions, service_class

    vhost = amqp_vhost_uri.rsplit("/", 1)[1]
    created = []

    def make(service: str) -> str:
        user, password = f"crm-test-{service}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        rabbitmqctl("add_user", user, password)
        created.append(user)
        permissions = broker_permissions(service_class(service))
        rabbitmqctl("set_permissions", "-p", vhost, user, *(permissions[k] for k in ("configure", "write", "read")))
        return f"amqp://{user}:{password}@{BROKER.rsplit('@', 1)[1]}/{vhost}"

    yield make
    for user in created:
        rabbitmqctl("delete_user", user)
