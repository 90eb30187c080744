"""The kernel's engines: PostgreSQL connections send small messages at once."""

import socket

import pg8000
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from crm_kernel.db import _connect_without_nagle, get_engine
from crm_kernel.http import database_unavailable


def pg8000_url(postgres) -> str:
    """A new database's URL on pg8000, whichever driver the suite runs on (CRM_PG_DRIVER)."""
    return postgres.create("nodelay").replace("postgresql+psycopg2://", "postgresql+pg8000://")


def test_a_pg8000_engine_connects_through_the_kernel(postgres):
    engine = get_engine(pg8000_url(postgres))

    assert event.contains(engine, "do_connect", _connect_without_nagle)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_its_socket_sends_small_messages_at_once(postgres):
    url = pg8000_url(postgres)
    engine = get_engine(url)
    cargs, cparams = engine.dialect.create_connect_args(engine.url)

    connection = _connect_without_nagle(engine.dialect, None, cargs, cparams)

    try:
        sock = socket.socket(fileno=connection._usock.fileno())  # only the test looks inside
        try:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        finally:
            sock.detach()
        assert list(connection.run("SELECT 1")) == [[1]]
    finally:
        connection.close()


def test_a_unix_socket_is_left_to_pg8000():
    assert _connect_without_nagle(None, None, (), {"unix_sock": "/run/postgresql/.s.PGSQL.5432"}) is None


def test_a_refused_connection_is_pg8000s_interface_error_so_it_reads_as_a_database_down():
    with pytest.raises(pg8000.InterfaceError, match="cannot connect to 127.0.0.1:9"):
        _connect_without_nagle(None, None, (), {"user": "x", "host": "127.0.0.1", "port": 9, "timeout": 5})


def test_an_engine_whose_database_is_gone_raises_what_the_http_layer_calls_unavailable():
    engine = get_engine("postgresql+pg8000://nobody@127.0.0.1:9/none")

    with pytest.raises(DBAPIError) as raised, engine.connect():
        pass
    assert database_unavailable(raised.value)
