"""KPIs aggregated where the facts are: a few `GROUP BY` queries per report, never every fact in Python.

The definitions stay in `reporting.kpis` (plain functions over facts, the specification the tests hold
these queries to); this module computes the same numbers in SQL, on SQLite and PostgreSQL alike.
Medians and nearest-rank p90s are picked by position with window functions, so only the two or three
values that decide them leave the database. A report reads O(groups) rows, whatever the facts.
"""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, String, and_, case, cast, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from crm_kernel.db import UTCDateTime
from reporting.kpis import (
    BREAKDOWNS,
    DURATION_KPIS,
    FACT_OF,
    TIME_GROUPINGS,
    DepartmentTree,
    kpi_values,
    label_of_day,
    period_bounds,
)


def periods(start: date, end: date, group_by: str, tz: str) -> list[tuple[str, datetime, datetime]]:
    """Each bucket of `start`..`end` with the UTC instants that open and close it in `tz`."""
    runs: list[list] = []
    for ordinal in range(start.toordinal(), end.toordinal() + 1):
        day = date.fromordinal(ordinal)
        label = label_of_day(day, group_by)
        if runs and runs[-1][0] == label:
            runs[-1][2] = day
        else:
            runs.append([label, day, day])
    return [(label, *period_bounds(first, last, tz)) for label, first, last in runs]


def _rows_cte(name: str, columns: dict, rows: list[tuple]):
    """A small table of literal rows as a CTE (`UNION ALL` of one-row selects: both engines read it)."""
    selects = [
        select(
            *(literal(value, type_).label(column) for (column, type_), value in zip(columns.items(), row, strict=True))
        )
        for row in rows
    ]
    return (union_all(*selects) if len(selects) > 1 else selects[0]).cte(name)


def keyed(facts, group_by: str | None, params: dict, tree: DepartmentTree):
    """`facts` (a subquery: kpi, occurred_at, user_id, department_id, dimensions) with a `key` column:
    the group each fact counts in. By department a fact counts in its department and every one above
    it, so it appears once per ancestor; by day, week or month its bucket in the time zone asked for."""
    columns = (facts.c.kpi, facts.c.occurred_at, facts.c.dimensions)
    if group_by is None:
        return select(cast(null(), String).label("key"), *columns).subquery("keyed")
    if group_by == "user":
        return select(facts.c.user_id.label("key"), *columns).subquery("keyed")
    if group_by in TIME_GROUPINGS:
        buckets = _rows_cte(
            "buckets",
            {"label": String(), "opens": UTCDateTime(), "closes": UTCDateTime()},
            periods(params["from_"], params["to"], group_by, params["tz"]),
        )
        during = and_(facts.c.occurred_at >= buckets.c.opens, facts.c.occurred_at < buckets.c.closes)
        return select(buckets.c.label.label("key"), *columns).select_from(facts).join(buckets, during).subquery("keyed")
    ancestry = [(department, above) for department in tree.parents for above in tree.ancestors(department)]
    if not ancestry:
        return select(facts.c.department_id.label("key"), *columns).subquery("keyed")
    lines = _rows_cte("ancestry", {"department_id": String(), "ancestor": String()}, ancestry)
    key = func.coalesce(lines.c.ancestor, facts.c.department_id)  # a department outside the tree: itself
    return (
        select(key.label("key"), *columns)
        .select_from(facts)
        .outerjoin(lines, lines.c.department_id == facts.c.department_id)
        .subquery("keyed")
    )


def _met(dimensions):
    # SQLite's JSON functions give true as 1, PostgreSQL's ->> as 'true': compare the text of both.
    return cast(dimensions["met"].as_string(), String).in_(("true", "1"))


def grouped_kpis(session: Session, facts: Select, group_by, params: dict, tree, names: tuple, now) -> dict:
    """`{key: (values, breakdowns)}` for every group holding facts, as `kpis.kpi_values` would give
    over each group's facts. `facts` selects kpi, occurred_at, user_id, department_id, dimensions."""
    facts = facts.where(or_(facts.selected_columns.kpi != "tasks_overdue", facts.selected_columns.occurred_at <= now))
    rows = keyed(facts.subquery("facts"), group_by, params, tree)
    wanted = {FACT_OF[name] for name in names}
    counts: dict = defaultdict(dict)
    met: dict = defaultdict(int)
    is_met = case((and_(rows.c.kpi == "sla_compliance", _met(rows.c.dimensions)), 1), else_=0)
    for key, kpi, count, met_count in session.execute(
        select(rows.c.key, rows.c.kpi, func.count(), func.sum(is_met)).group_by(rows.c.key, rows.c.kpi)
    ):
        counts[key][kpi] = count
        met[key] += met_count or 0
    durations = _durations(session, rows) if wanted & set(DURATION_KPIS) else {}
    amounts = _won_amounts(session, rows) if "won_amount" in names else {}
    breakdowns = _breakdowns(session, rows, [name for name in BREAKDOWNS if name in names])
    empty_values, empty_breakdowns = kpi_values([], names, now)
    result = {}
    for key, by_kpi in counts.items():
        values = dict(empty_values)
        for name in names:
            fact = FACT_OF[name]
            if name in DURATION_KPIS:
                values[name] = durations.get((key, fact), {"median": None, "p90": None, "count": 0})
            elif name == "sla_compliance":
                judged = by_kpi.get(fact, 0)
                share = round(met[key] / judged, 4) if judged else None
                values[name] = {"met": met[key], "breached": judged - met[key], "share": share}
            elif name == "won_amount":
                values[name] = amounts.get(key, {})
            else:
                values[name] = by_kpi.get(fact, 0)
        group_breakdowns = {
            name: {dimension: breakdowns.get((key, name, dimension), {}) for dimension in dimensions}
            for name, dimensions in empty_breakdowns.items()
        }
        result[key] = (values, group_breakdowns)
    return result


def _durations(session: Session, rows) -> dict:
    """`{(key, kpi): {median, p90, count}}`: the values at the middle and at the nearest rank of 90%
    (position ceil(0.9 n), as (9n + 9) div 10 in integers) picked inside the database."""
    seconds = rows.c.dimensions["seconds"].as_float()
    window = {"partition_by": (rows.c.key, rows.c.kpi)}
    ranked = (
        select(
            rows.c.key,
            rows.c.kpi,
            seconds.label("seconds"),
            func.row_number().over(**window, order_by=seconds).label("position"),
            func.count().over(**window).label("n"),
        )
        .where(rows.c.kpi.in_(DURATION_KPIS))
        .subquery("ranked")
    )
    n = ranked.c.n
    wanted = ranked.c.position.in_(((n + 1) // 2, (n + 2) // 2, (9 * n + 9) // 10))
    picked: dict = defaultdict(dict)
    sizes = {}
    for key, kpi, value, position, count in session.execute(
        select(ranked.c.key, ranked.c.kpi, ranked.c.seconds, ranked.c.position, n).where(wanted)
    ):
        picked[(key, kpi)][position] = value
        sizes[(key, kpi)] = count
    stats = {}
    for group, at in picked.items():
        count = sizes[group]
        middle = at[(count + 1) // 2] if count % 2 else (at[count // 2] + at[count // 2 + 1]) / 2
        stats[group] = {"median": middle, "p90": at[(9 * count + 9) // 10], "count": count}
    return stats


def _counted(session: Session, rows, where, **values):
    """`(key, *values, count)` per distinct key and values of the rows matching `where`. The values
    are computed in a subquery and grouped by name: PostgreSQL would see a JSON path repeated in
    `GROUP BY` with its own bound parameters as a different expression."""
    named = select(rows.c.key, *(value.label(name) for name, value in values.items())).where(where).subquery("named")
    columns = [named.c.key, *(named.c[name] for name in values)]
    return session.execute(select(*columns, func.count()).group_by(*columns))


def _won_amounts(session: Session, rows) -> dict:
    """`{key: {currency: total}}`: won amounts summed exactly (as decimals) per currency."""
    amount = rows.c.dimensions["amount"].as_string()
    currency = rows.c.dimensions["currency"].as_string()
    totals: dict = defaultdict(lambda: defaultdict(Decimal))
    where = and_(rows.c.kpi == "deals_won", amount.is_not(None))
    for key, code, value, count in _counted(session, rows, where, currency=currency, amount=amount):
        totals[key][code or "?"] += Decimal(str(value)) * count
    return {key: {code: str(total) for code, total in sorted(by_code.items())} for key, by_code in totals.items()}


def _breakdowns(session: Session, rows, names: list[str]) -> dict:
    """`{(key, kpi, dimension): {value: count}}` for the breakdowns of `names` (a missing value is "None")."""
    found: dict = defaultdict(dict)
    for name in names:
        for dimension in BREAKDOWNS[name]:
            value = rows.c.dimensions[dimension].as_string()
            for key, label, count in _counted(session, rows, rows.c.kpi == name, value=value):
                found[(key, name, dimension)][str(label)] = count
    return {group: dict(sorted(counts.items())) for group, counts in found.items()}
