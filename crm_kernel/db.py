"""The one database dependency: SQLAlchemy 2 engines that behave under eventlet, and entity columns.

PostgreSQL goes through psycopg2 (C) with psycogreen's wait callback, so a query's waits yield to
other green threads, or through pg8000 (pure Python, green once eventlet patches sockets):
`CRM_PG_DRIVER`.
SQLite is a C library whose lock waits would block the whole process, so a process holds one
connection and green threads queue for it cooperatively in the pool; WAL keeps readers of other
processes (the CLI, tests) out of the writer's way.
"""

import logging
import socket
import time
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pg8000
import uuid_utils
from nameko.extensions import DependencyProvider
from sqlalchemy import DateTime, Integer, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from crm_kernel.config import database_url, max_workers

log = logging.getLogger(__name__)
_engines: dict[str, Engine] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """32 hex digits, a UUIDv7: time-ordered, so a B-tree on ids grows at its right edge.

    Random ids (v4) land all over an index; once its pages outgrow PostgreSQL's buffers every insert
    reads and dirties a random page. v7 ids are 48 bits of milliseconds, then random bits.
    """
    return uuid_utils.uuid7().hex


def get_engine(url: str) -> Engine:
    """One engine per URL and process, so that every part of a service shares its connections."""
    if url not in _engines:
        _engines[url] = _create_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def _connect_without_nagle(_dialect, _record, cargs: tuple, cparams: dict):
    """A pg8000 connection over a TCP socket that sends small messages at once.

    pg8000 writes COPY data, CopyDone and Sync as separate small writes; with Nagle's algorithm on,
    each statement then waited for the server's delayed ACK (about 40 ms), which dominated imports.
    libpq sets TCP_NODELAY on every connection; pg8000 does not, but its public `Connection` takes a
    connected socket (`sock`), which `pg8000.connect` does not pass on: so the connection is made here.
    """
    if cparams.get("unix_sock") is not None:
        return None
    address = (cparams.get("host") or "localhost", int(cparams.get("port") or 5432))
    try:
        sock = socket.create_connection(address, cparams.get("timeout"), cparams.get("source_address"))
    except OSError as exc:  # as pg8000 reports it, so SQLAlchemy sees a database that is not reachable
        raise pg8000.InterfaceError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cparams.get("tcp_keepalive", True):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return pg8000.Connection(*cargs, **cparams, sock=sock)
    except BaseException:
        sock.close()
        raise


def _create_engine(url: str) -> Engine:
    # hide_parameters: an error's message (logged, sometimes shown) never carries the values bound to
    # the query: passwords' hashes, e-mails, a contact's fields.
    if url.startswith("postgresql+psycopg2"):
        make_psycopg2_green()
    if not url.startswith("sqlite"):
        # Every worker holds a connection, and the outbox relay and a readiness check one each besides:
        # a pool smaller than that opened and closed an overflow connection under load (py-spy of
        # GET /contacts/{id}: 2.6% of the contacts process in connecting, BENCHMARKS.md).
        pool_size = max_workers() + 2
        engine = create_engine(url, pool_size=pool_size, max_overflow=10, pool_timeout=10, hide_parameters=True)
        ping_when_idle(engine)
        event.listen(engine, "checkout", _in_transactions_again)
        if engine.dialect.driver == "pg8000":
            event.listen(engine, "do_connect", _connect_without_nagle)
        event.listen(engine, "handle_error", _without_row_values, retval=True)
        return engine
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}, hide_parameters=True
        )
    else:
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
            connect_args={"check_same_thread": False, "timeout": 10},
            hide_parameters=True,
        )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # nothing recorded may be lost, even on power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _without_row_values(context) -> DBAPIError | None:
    """The error with PostgreSQL's DETAIL dropped: a constraint error explains itself with the row's
    values ("Key (email)=(ada@example.com) already exists"), which `hide_parameters` does not hide.
    So no value bound to a query reaches a log, however the error is reported."""
    error, orig = context.sqlalchemy_exception, context.original_exception
    if not isinstance(error, DBAPIError) or not _drop_detail(orig):
        return None
    # SQLAlchemy's message was built from the driver's before this hook: build it again.
    return type(error)(
        error.statement,
        error.params,
        orig,
        hide_parameters=True,
        connection_invalidated=error.connection_invalidated,
        code=error.code,
        ismulti=error.ismulti,
    )


def _drop_detail(orig: BaseException) -> bool:
    """Drop the DETAIL from a driver's error and from the errors it was raised from or during
    (pg8000 raises a second one while handling the first); whether there was one."""
    dropped, seen = False, set()
    while orig is not None and id(orig) not in seen:
        seen.add(id(orig))
        first = orig.args[0] if orig.args else None
        if isinstance(first, dict) and "D" in first:  # pg8000: the server's fields by their codes
            orig.args = ({code: value for code, value in first.items() if code != "D"}, *orig.args[1:])
            dropped = True
        elif isinstance(first, str) and "\nDETAIL:" in first:  # psycopg2: the server's text
            orig.args = (first.split("\nDETAIL:", 1)[0], *orig.args[1:])
            dropped = True
        orig = orig.__cause__ or orig.__context__
    return dropped


PING_AFTER_IDLE_SECONDS = 2.0


def ping_when_idle(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """A connection idle in the pool for `idle_seconds` or more is pinged when checked out; a busy one
    is not.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: one more round trip per request (5.5% of the
    contacts process on `GET /contacts/{id}`, BENCHMARKS.md). What it protects against is a server
    that restarted while the connection sat unused; a connection used a moment ago that broke since
    fails its query instead, which SQLAlchemy reports as a disconnect (a retryable 503) and answers by
    discarding every connection of the pool made before then. A failed ping raises
    `DisconnectionError`, on which the pool connects anew (as pre-ping does).
    """

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # a new connection, or one given back a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its ping: {type(exc).__name__}") from exc
        if alive is False:
            raise DisconnectionError("a pooled connection failed its ping")


def outside_transaction(session: Session) -> Session:
    """`session`, whose statements on PostgreSQL each commit on their own (the driver's autocommit):
    for a worker that only reads, in one statement. Call it before the session's first statement.

    A read inside a transaction costs two more round trips than its query: psycopg2 sends `BEGIN`
    before it, and the pool sends `ROLLBACK` when the session closes. One statement sees one snapshot
    either way; several statements in autocommit may each see a later one, so a read made of more
    than one statement stays in a transaction. The driver's flag is set directly, not through
    SQLAlchemy's `AUTOCOMMIT` isolation level, whose reset at checkin costs psycopg2 a `SET` round
    trip; the pool clears the flag when it next hands the connection out (`_in_transactions_again`). SQLite
    has no round trips to save and keeps its transaction.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        fairy = connection.connection
        fairy.dbapi_connection.autocommit = True
        fairy.info[AUTOCOMMIT] = True
    return session


AUTOCOMMIT = "crm.autocommit"


@contextmanager
def statement_by_statement(session: Session):
    """Within the block, each statement of `session` on PostgreSQL commits on its own (the driver's
    autocommit), when the connection has no transaction open; after it, statements run in a
    transaction again (psycopg2 sends `BEGIN` before the next).

    For a worker whose reads are each one statement and whose writes are one statement together
    (`crm_kernel.bulk.insert_together`): it saves the `BEGIN` and `COMMIT` round trips, and one
    statement is as atomic as a transaction. A connection already in a transaction stays in it (the
    block's statements are then part of it), and so does SQLite, which has no round trips to save.
    """
    connection = session.connection()
    fairy = connection.connection
    dbapi = fairy.dbapi_connection
    if connection.dialect.name != "postgresql" or dbapi.autocommit or _in_transaction(dbapi):
        yield session
        return
    dbapi.autocommit = True
    fairy.info[AUTOCOMMIT] = True  # should the reset below fail, the pool resets it at the next checkout
    try:
        yield session
    finally:
        with suppress(Exception):  # a dropped connection: the pool replaces it (`_in_transactions_again`)
            dbapi.autocommit = False
            del fairy.info[AUTOCOMMIT]


def _in_transaction(dbapi_connection) -> bool:
    """Whether the driver's connection has a transaction open (psycopg2 or pg8000)."""
    status = getattr(dbapi_connection, "status", None)
    if status is not None:  # psycopg2: STATUS_READY (1) outside a transaction
        return status != 1
    return bool(getattr(dbapi_connection, "_in_transaction", True))


def _in_transactions_again(dbapi_connection, record, _proxy) -> None:
    """A connection that `outside_transaction` used works in transactions again when it is next checked
    out (one that cannot is replaced: never is a write run in autocommit by accident)."""
    if record.info.get(AUTOCOMMIT):
        try:
            dbapi_connection.autocommit = False
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection kept its autocommit: {type(exc).__name__}") from exc
        del record.info[AUTOCOMMIT]


def make_psycopg2_green() -> None:
    """Under eventlet, psycopg2 waits for the server through the hub (psycogreen's wait callback).

    libpq is C: without the callback a query would block every green thread of the process until the
    server answered. With it psycopg2 sends a query, and each wait for the socket yields to the hub.
    The callback is process-wide and refuses COPY (`crm_kernel.bulk` writes rows another way then).
    Outside eventlet (a script, a benchmark run in threads) psycopg2 stays as it is.
    """
    import eventlet.patcher  # noqa: PLC0415 - only processes that use psycopg2 need it
    import psycopg2.extensions  # noqa: PLC0415

    if eventlet.patcher.is_monkey_patched("socket") and psycopg2.extensions.get_wait_callback() is None:
        from psycogreen.eventlet import patch_psycopg  # noqa: PLC0415

        patch_psycopg()


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware; naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: a time zone is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Entity:
    """Columns every entity carries: a string id, an optimistic-lock version, and UTC timestamps."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow, index=True
    )

    @declared_attr.directive
    def __mapper_args__(cls):
        # SQLAlchemy adds `WHERE version = :old` to every UPDATE: a lost update becomes an error.
        return {"version_id_col": cls.__table__.c.version}


class Database(DependencyProvider):
    """Injects a SQLAlchemy session per worker, closed when the worker ends. It never commits for you."""

    def setup(self):
        self.engine = get_engine(database_url(self.container.service_name))
        self.make_session = sessionmaker(self.engine, expire_on_commit=False)
        self.sessions = {}

    def get_dependency(self, worker_ctx):
        session = self.make_session()
        self.sessions[worker_ctx] = session
        return session

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            close_safely(session)


def close_safely(session: Session) -> None:
    """Close `session`, discarding its connection when the database dropped it; never raises.

    Closing rolls back an open transaction, and on a connection PostgreSQL has dropped (a restart, a
    database that stopped accepting connections) that raises: pg8000's bare ConnectionResetError or
    SQLAlchemy's InterfaceError. Raised from a dependency provider's `worker_teardown` it would make
    Nameko kill the container and so the process, after the worker's own answer (a 503 when the
    worker met the outage) was already sent. A failed close also leaves the connection checked out
    of the pool for good, so it is invalidated and given back here.
    """
    try:
        connections = [session.connection()] if session.in_transaction() else []
    except Exception:
        connections = []
    try:
        session.close()
    except Exception as exc:
        log.warning("closing a session failed, its connection is discarded: %s", type(exc).__name__)
        for connection in connections:
            with suppress(Exception):
                connection.invalidate(exc)
            with suppress(Exception):
                connection.close()
        with suppress(Exception):
            session.close()
