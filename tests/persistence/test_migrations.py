"""Each service's Alembic history builds exactly the schema its models describe, on both engines."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from crm_kernel.migrations import SERVICES, alembic_config, upgrade
from crm_kernel.topology import service_class


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_reach_head_and_match_the_models(service, database_url):
    upgrade(service, database_url)
    base = __import__(f"{service}.models", fromlist=["Base"]).Base
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert differences == []
    assert {"outbox", "processed_events", "alembic_version"} <= tables


@pytest.mark.parametrize("service", SERVICES)
def test_migrating_twice_changes_nothing(service, database_url):
    upgrade(service, database_url)
    upgrade(service, database_url)  # a second deploy of the same version must be a no-op
    head = ScriptDirectory.from_config(alembic_config(service, database_url)).get_current_head()
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
    finally:
        engine.dispose()


def test_every_service_names_its_class():
    assert [service_class(name).name for name in SERVICES] == list(SERVICES)
