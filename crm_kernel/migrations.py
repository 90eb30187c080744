"""Each service's own Alembic history, run the same way for all: `python -m crm_kernel.migrations <service>`."""

import importlib
import sys
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import engine_from_config, pool

from crm_kernel.config import broker_password, database_url, services

SERVICES = tuple(services())  # in config.yaml's order


def alembic_config(service: str, url: str | None = None) -> Config:
    package = importlib.import_module(service)
    script_location = Path(package.__file__).resolve().parent.parent / "alembic"
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", (url or database_url(service)).replace("%", "%%"))
    return config


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    url = url or database_url(service)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url), revision)


def run_migrations(target_metadata, include_name=None) -> None:
    """Body of every service's `alembic/env.py`; `include_name` limits what autogenerate compares with
    the models (a service's database objects that SQLAlchemy cannot model, such as SQLite FTS5 tables)."""
    url = context.config.get_main_option("sqlalchemy.url")
    options = {"target_metadata": target_metadata, "render_as_batch": url.startswith("sqlite")}
    if include_name is not None:
        options["include_name"] = include_name
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


def prepare(service: str) -> None:
    """Everything a service needs before it starts: its schema at head, its event queues declared,
    and its own RabbitMQ user when `<SERVICE>_BROKER_PASSWORD` gives it a password (as `AMQP_URI`'s
    administrator; without one the service shares `AMQP_URI`'s user, as locally)."""
    from crm_kernel.topology import create_broker_user, declare_event_queues, service_class

    upgrade(service)
    queues = declare_event_queues(service_class(service))
    print(f"{service}: database at head, {len(queues)} event queues declared")
    password = broker_password(service)
    if password:
        print(f"{service}: RabbitMQ user {create_broker_user(service_class(service), password)} ready")


if __name__ == "__main__":
    for name in sys.argv[1:] or SERVICES:
        prepare(name)
