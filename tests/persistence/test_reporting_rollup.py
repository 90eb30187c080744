"""The KPI rollup on SQLite and PostgreSQL: after creations, updates, deletions and redeliveries applied
by the consumers it equals a plain count of the facts, and the reports read from it give the KPI
definitions' numbers for an admin and a manager; migration 0004 fills it from the facts already there."""

import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import eventlet
import pytest
from service_workers import Workers
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from crm_kernel.departments import DepartmentTree
from crm_kernel.migrations import upgrade
from crm_kernel.scope import Scope
from reporting import rollup
from reporting.events import apply
from reporting.kpis import KPIS, group_keys, kpi_values
from reporting.models import Fact, OutboxEvent, Rollup
from reporting.service import ReportingService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from reporting_events import (  # noqa: E402
    apply_batch,
    consumer_of,
    contact_created,
    deal_history,
    department,
    event,
    interaction_created,
    response_recorded,
    task,
    ticket,
    user,
)

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
PARENTS = {"d1": None, "d2": "d1", "d3": "d2"}
USERS = {"u1": "d1", "u2": "d2", "u3": "d3"}
MANAGER = Scope("m2", "manager", "d2", ("d2", "d3"))


@pytest.fixture
def reporting(database_url):
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    service = Workers(ReportingService, engine, OutboxEvent)
    for key, parent in PARENTS.items():
        apply_batch(service, [department(key, key.upper(), parent)])
    apply_batch(service, [user(key, key.upper(), department_id) for key, department_id in USERS.items()])
    yield service
    engine.dispose()


def history() -> list[list[dict]]:
    """Batches of events as the queues would deliver them: creations at whole and half hours (local
    midnight in Kolkata is 18:30 UTC), then updates, deletions and a redelivered batch."""
    contacts = [
        contact_created(f"2026-03-{day:02d}T{hour}+00:00", owner_id=owner, department_id=department_id)
        for day in (1, 2, 15, 31)
        for hour, owner, department_id in (("18:20:00", "u3", None), ("18:40:00", "u2", "d2"), ("09:00:00", "u1", None))
    ]
    calls = [
        interaction_created("2026-03-03T18:45:00+00:00", user_id=f"u{n % 3 + 1}", channel="call") for n in range(4)
    ]
    moved = calls[0]["entity"] | {"occurred_at": "2026-03-04T10:15:00+00:00", "channel": "email", "user_id": "u3"}
    opened = ticket("2026-03-05T08:00:00+00:00", assignee_id="u2", department_id=None)
    resolved = opened | {
        "first_response_at": "2026-03-05T08:30:00+00:00",
        "resolved_at": "2026-03-05T10:00:00+00:00",
        "sla_due_at": "2026-03-05T12:00:00+00:00",
    }
    won = deal_history(
        "2026-03-06T09:00:00+00:00", [("won", "2026-03-07T18:35:00+00:00")], owner_id="u3", amount="250.50"
    )
    dropped = deal_history("2026-03-06T09:00:00+00:00", [("won", "2026-03-08T11:00:00+00:00")], owner_id="u2")
    repriced = won[-1]["entity"] | {"amount": "300.25"}
    late = task("2026-03-09T18:45:00+00:00", assignee_id="u3")
    responses = [response_recorded(kind, "2026-03-10T12:00:00+00:00", user_id="u2") for kind in ("sent", "opened")]
    return [
        contacts,
        calls,
        [event("interaction.updated", moved, "2026-03-04T10:15:00+00:00")],
        [event("interaction.deleted", calls[1]["entity"], "2026-03-04T11:00:00+00:00")],
        [event("ticket.created", opened, opened["created_at"])],
        [event("ticket.updated", resolved, "2026-03-05T10:00:00+00:00")],
        [event("ticket.updated", resolved, "2026-03-05T10:00:01+00:00")],  # the same state again
        won[:1] + dropped[:1],
        won[1:] + dropped[1:],
        [event("deal.updated", repriced, "2026-03-08T09:00:00+00:00")],
        [event("deal.deleted", dropped[-1]["entity"], "2026-03-09T09:00:00+00:00")],
        [event("task.created", late, "2026-03-01T09:00:00+00:00")],
        responses,
        contacts[:5],  # a redelivered batch: dropped by event_id
    ]


def apply_history(reporting) -> None:
    for batch in history():
        consumer_of(reporting, batch[0]["type"])(batch)


def facts_of(reporting) -> list[dict]:
    with Session(reporting.engine) as session:
        columns = (Fact.kpi, Fact.occurred_at, Fact.user_id, Fact.department_id, Fact.dimensions)
        return [dict(row) for row in session.execute(select(*columns)).mappings()]


def rollup_rows(reporting) -> dict:
    """The rollup's rows that hold anything, as `{key: [count, met, priced, amount, seconds]}`."""
    rows = {}
    for row in reporting.rows(Rollup):
        values = [getattr(row, name) for name in rollup.VALUES]
        if any(values):
            rows[tuple(getattr(row, name) for name in rollup.KEY)] = values
    return rows


def expected(facts: list[dict], query: dict, scope: Scope) -> dict:
    """The report's groups as the KPI definitions give them over the facts the caller may see."""
    tz, group_by, now = query.get("tz", "UTC"), query.get("group_by"), datetime.now(UTC)
    shown = (
        PARENTS
        if scope.sees_all_figures
        else {k: (p if p in scope.departments else None) for k, p in PARENTS.items() if k in scope.departments}
    )
    tree = DepartmentTree(shown)
    local_day = lambda fact: fact["occurred_at"].astimezone(ZoneInfo(tz)).date().isoformat()  # noqa: E731
    groups: dict = {}
    for fact in facts:
        fact = fact | {"department_id": fact["department_id"] or USERS.get(fact["user_id"])}
        inside = query["from"] <= local_day(fact) <= query["to"]
        if inside and (scope.sees_all_figures or fact["department_id"] in scope.departments):
            for key in group_keys(fact, group_by, tz, tree):
                groups.setdefault(key, []).append(fact)
    return {key: kpi_values(group, KPIS, now) for key, group in groups.items()}


def test_the_rollup_equals_a_plain_count_of_the_facts_after_updates_deletions_and_redeliveries(reporting):
    apply_history(reporting)

    facts = facts_of(reporting)
    assert rollup_rows(reporting) == rollup.changes([], facts)
    kinds = {fact["kpi"] for fact in facts}
    assert {"interactions", "deals_won", "sla_compliance", "resolution_time", "tasks_overdue"} <= kinds
    # the moved call counts in its new hour and channel, the deleted call and the deleted deal nowhere
    assert sum(values[0] for key, values in rollup_rows(reporting).items() if key[0] == "interactions") == 3
    assert [values[3] for key, values in rollup_rows(reporting).items() if key[0] == "deals_won"] == [3_002_500]


@pytest.mark.parametrize("group_by", [None, "user", "department", "day"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_reports_read_from_the_rollup_give_the_definitions_numbers_for_an_admin_and_a_manager(reporting, group_by, tz):
    apply_history(reporting)
    facts = facts_of(reporting)
    query = MARCH | {"tz": tz} | ({"group_by": group_by} if group_by else {})

    for scope in (Scope.system(), MANAGER):
        report = reporting.as_(scope).kpis(query)
        want = expected(facts, query, scope)
        if group_by is None:
            assert (report["kpis"], report["breakdowns"]) == want[None]
            continue
        got = {group["key"]: (group["kpis"], group["breakdowns"]) for group in report["groups"]}
        assert {key: got[key] for key in want} == want


def test_two_batches_adding_to_one_rollup_row_at_once_both_count(database_url):
    """Two replicas apply contacts of one owner and hour: the second waits for the first's row, then adds."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: nothing runs at once")
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    first, second, observer = Session(engine), Session(engine), Session(engine)
    second_pid = second.scalar(text("SELECT pg_backend_pid()"))

    def second_replica():
        apply(second, [contact_created("2026-03-02T10:40:00+00:00", owner_id="u2", department_id=None)])
        second.commit()

    def second_waits_for_a_lock() -> bool:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        return observer.scalar(query, {"pid": second_pid}) == "Lock"

    try:
        apply(first, [contact_created("2026-03-02T10:05:00+00:00", owner_id="u2", department_id=None)])
        replica = eventlet.spawn(second_replica)
        while not replica.dead and not second_waits_for_a_lock():
            eventlet.sleep(0.01)  # let the second replica run until it is done or waits on the first
        waited = second_waits_for_a_lock()
        first.commit()
        replica.wait()
        service = Workers(ReportingService, engine, OutboxEvent)
        assert waited
        assert rollup_rows(service) == rollup.changes([], facts_of(service))
        assert [values[0] for values in rollup_rows(service).values()] == [2]
    finally:
        for session in (first, second, observer):
            session.close()
        engine.dispose()


def test_migrating_to_0004_counts_the_facts_already_recorded_into_the_rollup(database_url):
    upgrade("reporting", database_url, "0003")
    engine = create_engine(database_url)
    at = lambda value: datetime.fromisoformat(value + "+00:00")  # noqa: E731
    facts = [
        ("interactions", at("2026-03-01T10:15"), "u1", None, {"channel": "call", "direction": "inbound"}),
        ("interactions", at("2026-03-01T10:45"), "u1", None, {"channel": "call", "direction": "inbound"}),
        ("interactions", at("2026-03-01T10:50"), "u1", None, {"channel": None, "direction": "inbound"}),
        ("sla_compliance", at("2026-03-02T23:59:59"), None, "d2", {"met": True}),
        ("sla_compliance", at("2026-03-02T23:00"), None, "d2", {"met": False}),
        ("deals_won", at("2026-03-03T09:00"), "u2", "d2", {"amount": "1000.05", "currency": "EUR"}),
        ("deals_won", at("2026-03-03T09:30"), "u2", "d2", {"amount": None, "currency": None}),
        ("resolution_time", at("2026-03-04T00:00"), "u3", None, {"seconds": 5400.0}),
        ("campaign_responses", at("2026-03-05T12:00"), "u3", "d3", {"kind": "opened", "campaign_id": "c1"}),
        ("contacts_created", at("2026-03-05T12:00:00.250"), "u3", "d3", {}),
    ]
    columns = ("kpi", "occurred_at", "user_id", "department_id", "dimensions")
    with Session(engine) as session:
        session.execute(
            Fact.__table__.insert(),
            [
                {"id": f"f{n}", "source": f"f:{n}", **dict(zip(columns, fact, strict=True))}
                for n, fact in enumerate(facts)
            ],
        )
        session.commit()
    try:
        upgrade("reporting", database_url)
        service = Workers(ReportingService, engine, OutboxEvent)
        migrated = rollup_rows(service)

        assert migrated == rollup.changes([], facts_of(service))
        assert len(migrated) == 8  # two calls of one hour share a row, and the two verdicts of 23:00
        with Session(engine) as session:
            rollup.rebuild(session)
            session.commit()
        assert rollup_rows(service) == migrated
    finally:
        engine.dispose()
