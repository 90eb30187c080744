"""Reports aggregated in SQL give, on SQLite and PostgreSQL, the numbers of the KPI definitions in
`reporting.kpis` (plain Python over every fact) for random facts, every grouping and several roles."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from service_workers import Workers
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from crm_kernel.departments import DepartmentTree
from crm_kernel.migrations import upgrade
from crm_kernel.scope import Scope
from reporting import rollup
from reporting.kpis import KPIS, group_keys, kpi_values, response_rates
from reporting.models import Department, Fact, OutboxEvent, User
from reporting.service import ReportingService

PERIOD = {"from": "2026-11-20", "to": "2027-01-10"}  # reaches past now, so some tasks are not overdue yet
PARENTS = {"d1": None, "d2": "d1", "d3": "d2", "d4": "d1"}
USERS = {"u1": "d1", "u2": "d2", "u3": "d3", "u4": "d4", "u5": None}
MANAGER = Scope("m2", "manager", "d2", ("d2", "d3"))


def random_facts(count: int, seed: int = 17) -> list[dict]:
    """Facts of every KPI with duplicated seconds and amounts, missing users and departments, a
    department outside the tree, and instants around local midnights."""
    rng = random.Random(seed)
    opens = datetime(2026, 11, 19, 20, tzinfo=UTC)
    facts = []
    for n in range(count):
        kpi = rng.choice(sorted(set(KPIS) - {"won_amount"}))
        dimensions = {}
        if kpi in ("first_response_time", "resolution_time"):
            dimensions["seconds"] = rng.choice([60.0, 90.5, 3600.0, float(rng.randint(1, 90_000))])
        elif kpi == "sla_compliance":
            dimensions["met"] = rng.random() < 0.7
        elif kpi == "deals_won":
            dimensions = {
                "amount": rng.choice(["1000.00", "250.50", "0.10", None]),
                "currency": rng.choice(["EUR", "USD", None]),
            }
        elif kpi == "interactions":
            dimensions = {"channel": rng.choice(["call", "email", None]), "direction": rng.choice(["in", "out"])}
        elif kpi == "campaign_responses":
            dimensions = {
                "kind": rng.choice(["sent", "opened", "clicked"]),
                "campaign_id": rng.choice(["c1", "c2", None]),
            }
        facts.append(
            {
                "id": f"{kpi}:f{n}",
                "source": f"f:{n}",
                "kpi": kpi,
                "occurred_at": opens + timedelta(minutes=rng.randint(0, 55 * 24 * 60)),
                "user_id": rng.choice([*USERS, None]),
                "department_id": rng.choice(["d1", "d2", "d3", "d4", "d9", None, None]),
                "dimensions": dimensions,
            }
        )
    return facts


@pytest.fixture
def reporting(database_url):
    upgrade("reporting", database_url)
    engine = create_engine(database_url)
    facts = random_facts(1500)
    with Session(engine) as session:
        session.add_all(Department(id=key, name=key.upper(), parent_id=parent) for key, parent in PARENTS.items())
        session.add_all(User(id=key, name=key.upper(), department_id=department) for key, department in USERS.items())
        session.add_all(Fact(**fact) for fact in facts)
        session.flush()
        rollup.rebuild(session)  # facts written directly, not by events: count them into the rollup
        session.commit()
    yield Workers(ReportingService, engine, OutboxEvent), facts
    engine.dispose()


def expected(facts: list[dict], query: dict, scope: Scope) -> dict:
    """The report's totals and groups as the definitions give them over the facts the caller may see."""
    now, tz, group_by = datetime.now(UTC), query.get("tz", "UTC"), query.get("group_by")
    tree = DepartmentTree(PARENTS)
    if not scope.sees_all_figures:
        tree = DepartmentTree(
            {
                key: (parent if parent in scope.departments else None)
                for key, parent in PARENTS.items()
                if key in scope.departments
            }
        )
    seen = []
    for fact in facts:
        department = fact["department_id"] or USERS.get(fact["user_id"])
        if scope.sees_all_figures or department in scope.departments:
            seen.append(fact | {"department_id": department})
    groups: dict = {}
    for fact in seen:
        for key in group_keys(fact, group_by, tz, tree):
            groups.setdefault(key, []).append(fact)
    return {key: kpi_values(group, KPIS, now) for key, group in groups.items()}


@pytest.mark.parametrize("group_by", [None, "user", "department", "day", "week", "month"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_sql_aggregates_equal_the_kpi_definitions_for_every_grouping(reporting, group_by, tz):
    service, facts = reporting
    query = {**PERIOD, "tz": tz} | ({"group_by": group_by} if group_by else {})
    local_day = lambda fact: fact["occurred_at"].astimezone(ZoneInfo(tz)).date().isoformat()  # noqa: E731
    inside = [fact for fact in facts if PERIOD["from"] <= local_day(fact) <= PERIOD["to"]]

    for scope in (Scope.system(), MANAGER):
        report = service.as_(scope).kpis(query)
        want = expected(inside, query, scope)
        if group_by is None:
            assert (report["kpis"], report["breakdowns"]) == want[None]
            continue
        got = {group["key"]: (group["kpis"], group["breakdowns"]) for group in report["groups"]}
        assert {key: got[key] for key in want} == want
        empty = [key for key in got if key not in want]
        assert all(got[key][0]["interactions"] == 0 and got[key][0]["contacts_created"] == 0 for key in empty)


def test_campaign_responses_are_counted_in_sql_as_the_definition_counts_them(reporting):
    service, facts = reporting
    inside = [fact for fact in facts if PERIOD["from"] <= fact["occurred_at"].date().isoformat() <= PERIOD["to"]]

    for scope in (Scope.system(), MANAGER):
        report = service.as_(scope).campaigns(PERIOD)
        seen = [
            fact
            for fact in inside
            if fact["kpi"] == "campaign_responses"
            and (scope.sees_all_figures or (fact["department_id"] or USERS.get(fact["user_id"])) in scope.departments)
        ]
        by_campaign: dict = {}
        for fact in seen:
            by_campaign.setdefault(fact["dimensions"]["campaign_id"], Counter())[fact["dimensions"]["kind"]] += 1
        assert report["total"] == response_rates(Counter(fact["dimensions"]["kind"] for fact in seen))
        assert report["campaigns"] == [
            {"campaign_id": key, **response_rates(by_campaign[key])} for key in sorted(by_campaign, key=str)
        ]
