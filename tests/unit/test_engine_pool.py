"""A PostgreSQL engine keeps a connection for every worker of the process, and for its relay and checks."""

from crm_kernel.db import _create_engine


def test_the_pool_holds_a_connection_per_worker_and_two_more(monkeypatch):
    monkeypatch.setenv("CRM_MAX_WORKERS", "12")
    engine = _create_engine("postgresql+pg8000://nobody@127.0.0.1:1/none")  # never connects

    assert engine.pool.size() == 14
    engine.dispose()


def test_the_default_is_nameko_s_ten_workers(monkeypatch):
    monkeypatch.delenv("CRM_MAX_WORKERS", raising=False)
    engine = _create_engine("postgresql+pg8000://nobody@127.0.0.1:1/none")

    assert engine.pool.size() == 12
    engine.dispose()
