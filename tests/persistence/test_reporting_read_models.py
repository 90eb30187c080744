"""Reporting's read models on SQLite and PostgreSQL: applied events, a rebuild's clearing, the 0002 migration."""

import sys
from pathlib import Path

import eventlet
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from crm_kernel.migrations import upgrade
from reporting.events import apply, fresh_as_of
from reporting.models import DealStage, Fact, Plan, ProcessedEvent, Snapshot
from reporting.rebuild import clear_read_models

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from reporting_events import deal_history, event, ticket  # noqa: E402


def apply_all(session, events):
    for each in events:
        session.add(ProcessedEvent(event_id=each["event_id"], type=each["type"]))
        apply(session, [each])
    session.commit()


def test_ticket_and_deal_events_become_facts_with_utc_times(database_url):
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    resolved = ticket(
        "2026-03-02T10:00:00+01:00",
        first_response_at="2026-03-02T09:30:00+00:00",
        resolved_at="2026-03-02T11:00:00+00:00",
    )
    try:
        with Session(engine) as session:
            apply_all(
                session,
                [
                    event("ticket.updated", resolved, "2026-03-02T11:00:00+00:00"),
                    *deal_history("2026-03-02T09:00:00+00:00", [("won", "2026-03-05T09:00:00+00:00")], amount="99.90"),
                ],
            )
        with Session(engine) as session:
            facts = {fact.kpi: fact for fact in session.scalars(select(Fact))}
            assert facts["resolution_time"].dimensions == {"seconds": 7200.0}
            assert facts["tickets_opened"].occurred_at.isoformat() == "2026-03-02T09:00:00+00:00"
            assert facts["deals_won"].dimensions == {"amount": "99.90", "currency": "EUR"}
            assert session.scalar(select(DealStage.stage).where(DealStage.stage == "won")) == "won"
            assert fresh_as_of(session)["event_occurred_at"] == "2026-03-05T09:00:00+00:00"

            clear_read_models(session)
            session.add(Plan(metric="deals_won", period="2026-03", department_id="d1", value=3))
            session.commit()
            clear_read_models(session)
            assert session.scalars(select(Fact)).all() == [] and session.scalars(select(Snapshot)).all() == []
            assert session.scalars(select(ProcessedEvent)).all() == []
            assert len(session.scalars(select(Plan)).all()) == 1  # plans are not a read model
    finally:
        engine.dispose()


def test_migrating_to_0002_keeps_the_facts_counted_before(database_url):
    upgrade("reporting", database_url, "0001")
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO facts (event_id, kpi, occurred_at, user_id, department_id, dimensions, recorded_at) "
                    "VALUES ('e1', 'contacts_created', '2026-03-02 10:00:00', 'u7', 'd3', '{}', '2026-03-02 10:00:00')"
                )
            )
        upgrade("reporting", database_url)
        with Session(engine) as session:
            (fact,) = session.scalars(select(Fact)).all()
        assert (fact.id, fact.source, fact.kpi, fact.department_id) == (
            "contacts_created:event:e1",
            "event:e1",
            "contacts_created",
            "d3",
        )
    finally:
        engine.dispose()


def test_reports_are_fresh_as_of_the_newest_event_even_when_an_older_one_comes_later(database_url):
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    newer = event("ticket.created", ticket("2026-03-05T09:00:00+00:00"), "2026-03-05T09:00:00+00:00")
    older = event("ticket.created", ticket("2026-03-01T09:00:00+00:00"), "2026-03-01T09:00:00+00:00")
    try:
        for each in (newer, older):
            with Session(engine) as session:
                apply(session, [each])
                session.commit()
        with Session(engine) as session:
            assert fresh_as_of(session)["event_occurred_at"] == "2026-03-05T09:00:00+00:00"
    finally:
        engine.dispose()


def test_two_replicas_noting_their_first_events_at_once_both_commit(database_url):
    """Each replica's first batch writes the freshness row: the second waits for the first, then updates it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: nothing runs at once")
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    first, second, observer = Session(engine), Session(engine), Session(engine)
    second_pid = second.scalar(text("SELECT pg_backend_pid()"))

    def second_replica():
        apply(second, [event("department.created", {"id": "d2", "name": "Support"}, "2026-03-02T09:00:00+00:00")])
        second.commit()

    def second_waits_for_a_lock() -> bool:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        return observer.scalar(query, {"pid": second_pid}) == "Lock"

    try:
        apply(first, [event("department.created", {"id": "d1", "name": "Sales"}, "2026-03-01T09:00:00+00:00")])
        replica = eventlet.spawn(second_replica)
        while not replica.dead and not second_waits_for_a_lock():
            eventlet.sleep(0.01)  # let the second replica run until it is done or waits on the first
        first.commit()
        replica.wait()
        with Session(engine) as session:
            assert fresh_as_of(session)["event_occurred_at"] == "2026-03-02T09:00:00+00:00"
    finally:
        for session in (first, second, observer):
            session.close()
        engine.dispose()
