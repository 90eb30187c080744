"""Configuration from the environment, with defaults that make `make run` work on a laptop."""

import os
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


def env(name: str, default: str) -> str:
    """The environment variable `name`, or `default` when unset or empty."""
    return os.environ.get(name) or default


def var_dir() -> Path:
    """Where local state lives (SQLite files, document blobs): `CRM_VAR_DIR`, default `var/`."""
    return Path(env("CRM_VAR_DIR", str(ROOT / "var")))


def amqp_uri() -> str:
    return env("AMQP_URI", DEFAULT_AMQP_URI)


def max_workers() -> int:
    """`CRM_MAX_WORKERS`: the concurrent workers of one process (config.yaml hands it to Nameko)."""
    return int(env("CRM_MAX_WORKERS", "10"))


def database_url(service: str) -> str:
    """The database of `service`: `<SERVICE>_DATABASE_URL`, default a SQLite file under `var/`.

    A PostgreSQL URL that names no driver this project runs is given `pg_driver()`'s; both drivers
    cooperate with eventlet (`crm_kernel.db` makes psycopg2 green).
    """
    url = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if not url:
        return f"sqlite:///{var_dir() / f'{service}.db'}"
    if url.startswith(("postgresql+pg8000://", "postgresql+psycopg2://")):
        return url
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return f"postgresql+{pg_driver()}://" + url[len(prefix) :]
    return url


def broker_password(service: str) -> str | None:
    """`<SERVICE>_BROKER_PASSWORD`: the password of the service's own RabbitMQ user, where it has one."""
    return os.environ.get(f"{service.upper()}_BROKER_PASSWORD") or None


PG_DRIVERS = ("psycopg2", "pg8000")  # the first is the default (docs/decisions.md)


def pg_driver() -> str:
    """`CRM_PG_DRIVER`: the PostgreSQL driver of a URL that names none, `psycopg2` (default) or `pg8000`."""
    name = env("CRM_PG_DRIVER", PG_DRIVERS[0])
    if name not in PG_DRIVERS:
        raise ValueError(f"CRM_PG_DRIVER={name!r}: expected one of {', '.join(PG_DRIVERS)}")
    return name


def outbox_bulk_interval() -> float:
    """`CRM_OUTBOX_BULK_INTERVAL`: seconds the outbox relay waits between full batches of a backlog.

    An import records thousands of events a second; relaying them as fast as they come takes the CPU
    the import runs on. 0 relays a backlog without pause.
    """
    value = float(env("CRM_OUTBOX_BULK_INTERVAL", "0.25"))
    if value < 0:
        raise ValueError(f"CRM_OUTBOX_BULK_INTERVAL={value}: expected seconds, 0 or more")
    return value


def outbox_import_interval() -> float:
    """`CRM_OUTBOX_IMPORT_INTERVAL`: seconds the relay waits between full batches while an import runs
    in its process (default 2: 250 events a second of its backlog).

    Every event the relay publishes is applied by reporting on the other core; while an import writes,
    publishing its events as fast as `CRM_OUTBOX_BULK_INTERVAL` allows halves the import's rate. Its
    events are committed with its rows all the same and go out at full pace once it ends.
    """
    value = float(env("CRM_OUTBOX_IMPORT_INTERVAL", "2"))
    if value < 0:
        raise ValueError(f"CRM_OUTBOX_IMPORT_INTERVAL={value}: expected seconds, 0 or more")
    return value


def rpc_timeout() -> float:
    """Seconds the gateway waits for a service before answering 503."""
    return float(env("CRM_RPC_TIMEOUT", "10"))


@cache
def services() -> dict[str, str]:
    """The system's services, name -> Nameko class (`module:Class`), as `config.yaml` lists them."""
    with open(ROOT / "config.yaml") as file:
        return dict(yaml.safe_load(file)["SERVICES"])
