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
    models = __import__(f"{service}.models", fromlist=["Base"])
    # What SQLAlchemy cannot model (contacts' FTS5 index on SQLite) the models module leaves out itself.
    opts = {"include_name": models.modelled} if hasattr(models, "modelled") else {}
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection, opts=opts), models.Base.metadata)
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


def test_contacts_search_index_on_sqlite_is_built_by_the_migrations_from_existing_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    upgrade("contacts", url, revision="0002")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO contacts (id, version, first_name, last_name, emails, phones, attributes, "
                "marketing_consent, search_text, created_at, updated_at) VALUES "
                "('c1', 1, 'Zoe', 'Nunez', '[]', '[]', '{}', 0, 'zoe nunez', '2026-11-29', '2026-11-29')"
            )
        upgrade("contacts", url)
        with engine.connect() as connection:
            found = connection.exec_driver_sql("SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH '\"unez\"'")
            assert found.all() == [(1,)]
    finally:
        engine.dispose()
