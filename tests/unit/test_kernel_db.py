"""The kernel's engines: PostgreSQL connections send small messages at once."""

import socket

import pytest
from sqlalchemy import event

from crm_kernel.db import _connect_without_nagle, get_engine


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_a_postgresql_connection_gets_a_socket_without_nagles_delay(listener):
    cparams = {"host": "127.0.0.1", "port": listener.getsockname()[1], "timeout": 5}

    _connect_without_nagle(None, None, (), cparams)

    with cparams["sock"] as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


def test_a_socket_the_caller_chose_is_left_alone():
    cparams = {"unix_sock": "/run/postgresql/.s.PGSQL.5432"}

    _connect_without_nagle(None, None, (), cparams)

    assert "sock" not in cparams


def test_every_pg8000_engine_connects_that_way():
    engine = get_engine("postgresql+pg8000://nobody@127.0.0.1:9/none")

    assert engine.dialect.driver == "pg8000"
    assert event.contains(engine, "do_connect", _connect_without_nagle)
