"""The kernel's engines: PostgreSQL connections send small messages at once."""

import socket

import pytest
from sqlalchemy import event, text

from crm_kernel.db import _connect_without_nagle, get_engine


def test_a_pg8000_engine_connects_through_the_kernel(postgres):
    engine = get_engine(postgres.create("nodelay"))

    assert event.contains(engine, "do_connect", _connect_without_nagle)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_its_socket_sends_small_messages_at_once(postgres):
    url = postgres.create("nodelay")
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


def test_a_refused_connection_is_an_error_and_leaves_no_socket_open():
    with pytest.raises(OSError):
        _connect_without_nagle(None, None, (), {"user": "x", "host": "127.0.0.1", "port": 9, "timeout": 5})
