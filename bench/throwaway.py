"""What every benchmark shares: the PostgreSQL server it uses and its throw-away databases.

PostgreSQL is reached as `CRM_BENCH_PG_USER@CRM_BENCH_PG_HOST:CRM_BENCH_PG_PORT` (default
postgres@127.0.0.1:5432, trust authentication, as for `make test`). `CRM_BENCH_PG_DRIVER` (or a
benchmark's `--driver`) names the SQLAlchemy driver of the URLs handed out: `psycopg2` (the
project's default) or `pg8000`.
"""

import os
import uuid

import pg8000.native

PG = dict(
    user=os.environ.get("CRM_BENCH_PG_USER", "postgres"),
    host=os.environ.get("CRM_BENCH_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("CRM_BENCH_PG_PORT", "5432")),
)
DRIVERS = ("psycopg2", "pg8000")


def driver() -> str:
    return os.environ.get("CRM_BENCH_PG_DRIVER", DRIVERS[0])


def admin(sql: str) -> None:
    """Run one statement on the server's `postgres` database (CREATE and DROP DATABASE)."""
    connection = pg8000.native.Connection(database="postgres", **PG)
    try:
        connection.run(sql)
    finally:
        connection.close()


def url(name: str, driver_name: str | None = None) -> str:
    """The SQLAlchemy URL of database `name` on the benchmark's server."""
    return f"postgresql+{driver_name or driver()}://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def create_database(prefix: str) -> tuple[str, str]:
    """A new empty database named `prefix_<random>`: its name and URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    return name, url(name)


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connect(name: str) -> pg8000.native.Connection:
    """A plain connection to database `name`, for counting what a run stored."""
    return pg8000.native.Connection(database=name, **PG)
