"""Durations' seconds, on SQLite and PostgreSQL: the database fills `kpi_facts.seconds` from each
duration fact's dimensions, for facts recorded before migration 0005 and for those the consumers
write after it, and on PostgreSQL a report reads them from their own index alone."""

import sys
from datetime import date, datetime
from pathlib import Path

from service_workers import Workers
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from crm_kernel.migrations import upgrade
from crm_kernel.scope import Scope
from reporting.models import Fact, OutboxEvent
from reporting.reports import duration_query
from reporting.service import ReportingService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from reporting_events import apply_batch, event, ticket  # noqa: E402


def seconds_by_kpi(engine) -> list[tuple]:
    with Session(engine) as session:
        return sorted(session.execute(select(Fact.kpi, Fact.seconds)).tuples(), key=str)


def test_the_database_fills_each_duration_facts_seconds_before_and_after_migration_0005(database_url):
    upgrade("reporting", database_url, "0004")
    engine = create_engine(database_url)
    at = datetime.fromisoformat("2026-03-04T00:00:00+00:00")
    recorded = [
        ("resolution_time", {"seconds": 5400.0}),
        ("first_response_time", {"seconds": 90.5}),
        ("interactions", {"channel": "call", "seconds": 12.0}),  # not a duration: no seconds of its own
        ("contacts_created", {}),
    ]
    with engine.begin() as connection:
        connection.execute(
            Fact.__table__.insert(),
            [
                {"id": f"f{n}", "source": f"f:{n}", "kpi": kpi, "occurred_at": at, "dimensions": dimensions}
                for n, (kpi, dimensions) in enumerate(recorded)
            ],
        )
    try:
        upgrade("reporting", database_url)
        assert seconds_by_kpi(engine) == [
            ("contacts_created", None),
            ("first_response_time", 90.5),
            ("interactions", None),
            ("resolution_time", 5400.0),
        ]

        with engine.begin() as connection:
            connection.execute(Fact.__table__.delete())
        opened = ticket("2026-03-05T08:00:00+00:00")
        resolved = opened | {
            "first_response_at": "2026-03-05T08:00:30+00:00",
            "resolved_at": "2026-03-05T10:00:00.500000+00:00",
        }
        apply_batch(Workers(ReportingService, engine, OutboxEvent), [event("ticket.updated", resolved)])

        assert [(kpi, seconds) for kpi, seconds in seconds_by_kpi(engine) if seconds is not None] == [
            ("first_response_time", 30.0),
            ("resolution_time", 7200.5),
        ]
    finally:
        engine.dispose()


def test_on_postgresql_a_reports_durations_are_read_from_their_own_index_alone(postgres):
    url = postgres.create("durations")
    upgrade("reporting", url)
    engine = create_engine(url)
    params = {"from_": date(2026, 3, 1), "to": date(2026, 3, 31), "tz": "Asia/Kolkata"}
    try:
        with Session(engine) as session:
            for scope in (Scope.system(), Scope("m2", "manager", "d2", ("d2", "d3"))):
                query = duration_query(session, scope, params, ("first_response_time", "resolution_time"))
                sql = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
                session.execute(text("SET LOCAL enable_seqscan = off"))
                session.execute(text("SET LOCAL enable_bitmapscan = off"))
                plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))

                assert "Index Only Scan using ix_kpi_facts_durations on kpi_facts" in plan
                session.rollback()
    finally:
        engine.dispose()
