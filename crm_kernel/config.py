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

    A plain `postgresql://` URL is given the pure-Python pg8000 driver, which eventlet can make
    cooperative; a C driver would block every green thread of the process.
    """
    url = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if not url:
        return f"sqlite:///{var_dir() / f'{service}.db'}"
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+pg8000://" + url[len(prefix) :]
    return url


def broker_password(service: str) -> str | None:
    """`<SERVICE>_BROKER_PASSWORD`: the password of the service's own RabbitMQ user, where it has one."""
    return os.environ.get(f"{service.upper()}_BROKER_PASSWORD") or None


def rpc_timeout() -> float:
    """Seconds the gateway waits for a service before answering 503."""
    return float(env("CRM_RPC_TIMEOUT", "10"))


@cache
def services() -> dict[str, str]:
    """The system's services, name -> Nameko class (`module:Class`), as `config.yaml` lists them."""
    with open(ROOT / "config.yaml") as file:
        return dict(yaml.safe_load(file)["SERVICES"])
