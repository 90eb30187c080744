"""A worker whose database connection dies under it: the process keeps running.

The exits seen in the chaos rehearsal's database scenarios came from worker teardown: the session's
close rolls back on a connection PostgreSQL has dropped, that raises (a bare ConnectionResetError
from pg8000, or SQLAlchemy's InterfaceError), and an exception escaping a dependency provider's
`worker_teardown` makes Nameko kill the whole container, so the process exits. Here the connection
is terminated by PostgreSQL itself (`pg_terminate_backend`) while a real container runs the worker.
"""

import pg8000.native
import pytest
from leftovers import PG_ADMIN
from nameko.testing.services import entrypoint_hook
from sqlalchemy import text

from crm_kernel.db import Database
from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.errors import ServiceUnavailable
from crm_kernel.rpc import rpc


def terminate(pid: int) -> None:
    admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
    try:
        admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    finally:
        admin.close()


class Lossy:
    """A worker that reads, then loses its connection (PostgreSQL restarted, a database refusing)."""

    name = "lossy"
    db = Database()

    @rpc
    def read_then_lose_the_connection(self) -> int:
        pid = self.db.execute(text("SELECT pg_backend_pid()")).scalar_one()
        terminate(pid)
        return pid  # no commit: the teardown's rollback meets the dead connection

    @rpc
    def lose_the_connection_mid_work(self) -> int:
        terminate(self.db.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return self.db.execute(text("SELECT 1")).scalar_one()  # the worker's own error

    @rpc
    def answer(self) -> int:
        return self.db.execute(text("SELECT 42")).scalar_one()


class Front:
    name = "front"
    lossy = DeadlineServiceRpc("lossy", timeout=10)

    @rpc
    def call(self, method: str):
        return getattr(self.lossy, method)()


@pytest.fixture
def lossy(postgres, rabbit_config, container_factory, monkeypatch):
    monkeypatch.setenv("LOSSY_DATABASE_URL", postgres.create("lossy"))
    container = container_factory(Lossy)
    container.start()
    return container


def stopped_cleanly(container) -> None:
    """Stop `container` after its running workers (teardown included) and raise what killed it, if anything."""
    container.stop()
    container.wait()


def test_a_connection_lost_before_teardown_does_not_kill_the_container(lossy):
    with entrypoint_hook(lossy, "read_then_lose_the_connection") as call:
        assert call() > 0
    with entrypoint_hook(lossy, "answer") as answer:
        assert answer() == 42  # the pool hands out a live connection again
    engine = next(iter(lossy.dependencies)).engine
    assert engine.pool.checkedout() == 0  # the dead connection was given back, not leaked
    stopped_cleanly(lossy)


def test_a_connection_lost_mid_work_is_a_503_and_the_service_stays(lossy, container_factory):
    front = container_factory(Front)
    front.start()
    with entrypoint_hook(front, "call") as call:
        with pytest.raises(ServiceUnavailable):
            call("lose_the_connection_mid_work")
        assert call("answer") == 42
    stopped_cleanly(lossy)
