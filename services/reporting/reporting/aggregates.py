"""KPIs aggregated where the facts are: a few `GROUP BY` queries per report, never every fact in Python.

The definitions stay in `reporting.kpis` (plain functions over facts, the specification the tests hold
these queries to); this module computes the same numbers in SQL, on SQLite and PostgreSQL alike.
Medians and nearest-rank p90s are picked by position with window functions, so only the two or three
values that decide them leave the database. A report reads O(groups) rows, whatever the facts.
"""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import Session

from crm_kernel.db import UTCDateTime
from crm_kernel.departments import DepartmentTree
from reporting.kpis import (
    BREAKDOWNS,
    DURATION_KPIS,
    FACT_OF,
    TIME_GROUPINGS,
    kpi_values,
    label_of_day,
    period_bounds,
)
from reporting.rollup import UNITS, hour_of, instant_of


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


def keyed(facts, group_by: str | None, params: dict, tree: DepartmentTree, roll_up: bool = True, pg: bool = False):
    """`facts` (a subquery of the period's duration facts: kpi, occurred_at, user_id, department_id,
    seconds) with a `key` column: the group each fact counts in. By department a fact counts in its
    department and every one above it, so it appears once per ancestor (unless not `roll_up`: then its
    own department only); by day, week or month its bucket in the time zone asked for."""
    columns = (facts.c.kpi, facts.c.occurred_at, facts.c.seconds)
    if group_by is None:
        return select(cast(null(), String).label("key"), *columns).subquery("keyed")
    if group_by == "user":
        return select(facts.c.user_id.label("key"), *columns).subquery("keyed")
    if group_by in TIME_GROUPINGS and pg:
        # The buckets are contiguous and the facts inside the period: each fact's bucket is found by a
        # binary search of the buckets' openings (`width_bucket`), so the period is read as one index
        # range instead of one range per bucket joined to a table of buckets (64 ms to 20 at a million).
        bounds = periods(params["from_"], params["to"], group_by, params["tz"])
        opens = bindparam("bucket_opens", [each[1] for each in bounds], type_=ARRAY(TIMESTAMP(timezone=True)))
        key = array([each[0] for each in bounds])[func.width_bucket(facts.c.occurred_at, opens)]
        return select(key.label("key"), *columns).subquery("keyed")
    if group_by in TIME_GROUPINGS:
        buckets = _rows_cte(
            "buckets",
            {"label": String(), "opens": UTCDateTime(), "closes": UTCDateTime()},
            periods(params["from_"], params["to"], group_by, params["tz"]),
        )
        during = and_(facts.c.occurred_at >= buckets.c.opens, facts.c.occurred_at < buckets.c.closes)
        return select(buckets.c.label.label("key"), *columns).select_from(facts).join(buckets, during).subquery("keyed")
    ancestry = [(department, above) for department in tree.parents for above in tree.ancestors(department)]
    if not ancestry or not roll_up:
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


def _dimension(rows, name: str):
    return rows.c.dimensions[name].as_string()


def report_kpis(session: Session, sources: dict, group_by, params: dict, tree, names: tuple, now) -> tuple:
    """`(totals, groups)`: the `(values, breakdowns)` of the period, and `{key: (values, breakdowns)}`
    per group of `group_by` holding facts (None when not grouped), as `kpis.kpi_values` would give
    over each group's facts. `sources["facts"](kpis)` selects those KPIs' facts (kpi, occurred_at,
    user_id, department_id, dimensions), `sources["durations"](kpis)` those duration KPIs' facts with
    their seconds (`reports.duration_query`), `sources["rolled"]` is the rollup of the KPIs of `names`
    (`reports.rollup_query`).

    Each bucket (the period, when not grouped by time) is counted from the rollup for the whole UTC
    hours inside it and from the facts for the minutes before its first and after its last whole hour
    (none in a whole-hour zone): every fact once, by its own department, user or bucket. Totals and a
    department's figures (which include those below it) are sums of those counts. Tasks count as
    overdue only once due: the current hour's come from the facts. Medians and p90s, which do not add
    up, are picked per group in a pass of their own over the duration facts.
    """
    if session.get_bind().dialect.name == "postgresql":
        # The planner cannot size a range join on literal pieces and hours: it guesses about a million
        # rows and JIT-compiles for 300-400 ms a query that runs in 40 (measured). These read few rows.
        session.execute(text("SET LOCAL jit = off"))
    facts_of, rolled = sources["facts"], sources["rolled"]
    spans = [(label, *_whole_hours(opens, closes)) for label, opens, closes in _intervals(group_by, params)]
    current = hour_of(now)
    facts = facts_of(tuple({FACT_OF[name] for name in names}))
    when, kpi = facts.selected_columns.occurred_at, facts.selected_columns.kpi
    pieces = [
        (label, start, end, False)
        for label, opens, closes, first, last in spans
        for start, end in _edges(opens, closes, first, last)
    ]
    pieces += [
        (label, instant_of(current), instant_of(current + 1), True)
        for label, _, _, first, last in spans
        if first <= current < last
    ]
    own = _in_pieces(facts.where(or_(kpi != "tasks_overdue", when <= now)).subquery("facts"), group_by, pieces)
    tallies = _tally(session, own)
    if "won_amount" in names:  # its own pass over the won deals' index ranges only
        won = facts_of(("deals_won",))
        amounts = _won_amounts(session, _in_pieces(won.subquery("facts"), group_by, pieces))
    else:
        amounts = {}
    whole = [(label, first, last) for label, _, _, first, last in spans if first < last]
    _add_rolled(session, rolled, group_by, whole, current, tallies, amounts if "won_amount" in names else None)
    durations = set(DURATION_KPIS) & {FACT_OF[name] for name in names}
    # Their own query (not the others' with a second `IN`): the planner then sizes it right and reads
    # each bucket's durations as one index range instead of comparing every duration with every bucket.
    timed = sources["durations"](tuple(sorted(durations))).subquery("timed") if durations else None

    def added(keys_of) -> dict:
        merged: dict = {}
        for key, tally in tallies.items():
            for target in keys_of(key):
                into = merged.setdefault(target, _Tally())
                into.add(tally, amounts.get(key, {}))
        return merged

    totals = added(lambda key: [None]).get(None)
    pg = session.get_bind().dialect.name == "postgresql"
    total_durations = _durations(session, keyed(timed, None, params, tree)) if durations else {}
    empty = kpi_values([], names, now)
    summary = totals.values(None, names, total_durations, empty) if totals else empty
    if group_by is None:
        return summary, None
    by_department = lambda key: tree.ancestors(key) or [None]  # noqa: E731 - as `kpis.group_keys`
    groups = added(by_department if group_by == "department" else lambda key: [key])
    group_durations = _durations(session, keyed(timed, group_by, params, tree, pg=pg)) if durations else {}
    return summary, {key: tally.values(key, names, group_durations, empty) for key, tally in groups.items()}


def _intervals(group_by, params: dict) -> list[tuple]:
    """`(label, opens, closes)` of each bucket of the period; the period itself when not grouped by time."""
    if group_by in TIME_GROUPINGS:
        return periods(params["from_"], params["to"], group_by, params["tz"])
    return [(None, *period_bounds(params["from_"], params["to"], params["tz"]))]


def _whole_hours(opens: datetime, closes: datetime) -> tuple:
    """`(opens, closes, first, last)`: the whole UTC hours `first` <= hour < `last` inside the interval."""
    first, last = hour_of(opens), hour_of(closes)
    if instant_of(first) < opens:
        first += 1
    return opens, closes, first, max(first, last)


def _in_pieces(facts, group_by, pieces: list[tuple]):
    """The `facts` (a subquery) inside `pieces` (`(label, opens, closes, overdue_only)`), with a `key`
    column: the piece's label when grouped by time, else the fact's user, own department or nothing.
    A join to the pieces (not an `OR` of ranges) lets PostgreSQL read each piece as one index range."""
    columns = (facts.c.kpi, facts.c.occurred_at, facts.c.dimensions)
    if not pieces:
        return select(cast(null(), String).label("key"), *columns).where(false()).subquery("keyed")
    table = _rows_cte(
        "pieces",
        {"label": String(), "opens": UTCDateTime(), "closes": UTCDateTime(), "overdue_only": Boolean()},
        pieces,
    )
    inside = and_(
        facts.c.occurred_at >= table.c.opens,
        facts.c.occurred_at < table.c.closes,
        or_(table.c.overdue_only.is_(False), facts.c.kpi == "tasks_overdue"),
    )
    if group_by in TIME_GROUPINGS:
        key = table.c.label
    else:
        key = {"user": facts.c.user_id, "department": facts.c.department_id}.get(group_by, cast(null(), String))
    return select(key.label("key"), *columns).select_from(facts).join(table, inside).subquery("keyed")


def _edges(opens: datetime, closes: datetime, first: int, last: int) -> list[tuple]:
    """The parts of `opens`..`closes` outside its whole hours `first`..`last`, which the facts count."""
    if first >= last:
        return [(opens, closes)]
    parts = [(opens, instant_of(first)), (instant_of(last), closes)]
    return [(start, end) for start, end in parts if start < end]


def _add_rolled(session: Session, rolled: Select, group_by, whole: list, current: int, tallies, amounts) -> None:
    """Add to `tallies` (and `amounts`, unless None) the rollup's counts of the whole hours of each bucket
    in `whole` (`(label, first, last)`), by the group each row counts in. Tasks due in the `current`
    hour or later are left to the facts."""
    if not whole:
        return
    rows = rolled.subquery("rolled")
    columns = (rows.c.kpi, rows.c.channel, rows.c.direction, rows.c.kind, rows.c.currency)
    sums = (func.sum(rows.c.count), func.sum(rows.c.met), func.sum(rows.c.priced), func.sum(rows.c.amount))
    due = or_(rows.c.kpi != "tasks_overdue", rows.c.hour < current)
    if group_by in TIME_GROUPINGS:
        hours = _rows_cte("hours", {"label": String(), "first": BigInteger(), "last": BigInteger()}, whole)
        key = hours.c.label
        inside = and_(rows.c.hour >= hours.c.first, rows.c.hour < hours.c.last)
        stmt = select(key, *columns, *sums).select_from(rows).join(hours, inside).where(due)
    else:
        ((_, first, last),) = whole
        key = {"user": rows.c.user_id, "department": rows.c.department_id}.get(group_by)
        stmt = select(*([key] if key is not None else []), *columns, *sums)
        stmt = stmt.where(due, rows.c.hour >= first, rows.c.hour < last)
    grouping = [*([key] if key is not None else []), *columns]
    for row in session.execute(stmt.group_by(*grouping)):
        values = tuple(row)
        if key is None:
            values = (None, *values)
        group, kpi, channel, direction, kind_of, currency, count, met, priced, amount = values
        tally = tallies[group]
        tally.counts[kpi] += int(count)
        tally.met += int(met)
        found = {"channel": channel, "direction": direction, "kind": kind_of}
        for dimension in BREAKDOWNS.get(kpi, ()):
            tally.breakdowns[(kpi, dimension)][str(found[dimension])] += int(count)
        if amounts is not None and kpi == "deals_won" and int(priced) > 0:
            by_currency = amounts.setdefault(group, defaultdict(Decimal))
            by_currency[currency or "?"] += Decimal(int(amount)) / UNITS


class _Tally:
    """Counts per KPI, SLA verdicts met, breakdown counts and won amounts of one group."""

    def __init__(self):
        self.counts: dict = defaultdict(int)
        self.met = 0
        self.breakdowns: dict = defaultdict(lambda: defaultdict(int))
        self.amounts: dict = defaultdict(Decimal)

    def add(self, other: "_Tally", amounts: dict) -> None:
        for kpi, count in other.counts.items():
            self.counts[kpi] += count
        self.met += other.met
        for group, found in other.breakdowns.items():
            for value, count in found.items():
                self.breakdowns[group][value] += count
        for code, total in amounts.items():
            self.amounts[code] += total

    def values(self, key, names: tuple, durations: dict, empty: tuple) -> tuple:
        values, breakdowns = dict(empty[0]), empty[1]
        for name in names:
            fact = FACT_OF[name]
            if name in DURATION_KPIS:
                values[name] = durations.get((key, fact), {"median": None, "p90": None, "count": 0})
            elif name == "sla_compliance":
                judged = self.counts.get(fact, 0)
                share = round(self.met / judged, 4) if judged else None
                values[name] = {"met": self.met, "breached": judged - self.met, "share": share}
            elif name == "won_amount":
                values[name] = {code: money(total) for code, total in sorted(self.amounts.items())}
            else:
                values[name] = self.counts.get(fact, 0)
        breakdowns = {
            name: {dimension: dict(sorted(self.breakdowns[(name, dimension)].items())) for dimension in dimensions}
            for name, dimensions in breakdowns.items()
        }
        return values, breakdowns


def money(total: Decimal) -> str:
    """A sum of amounts as text: two places, or as many as it needs (amounts have up to four)."""
    cents = total.quantize(Decimal("0.01"))
    return str(cents) if cents == total else str(total.quantize(Decimal("0.0001")).normalize())


def _tally(session: Session, rows) -> dict:
    """`{key: _Tally}` in one pass over the facts. A dimension is read from the JSON only for the KPI
    it belongs to, so most facts are counted without parsing theirs."""
    dimensions = {
        "first": case(*((rows.c.kpi == name, _dimension(rows, found[0])) for name, found in BREAKDOWNS.items())),
        "second": case(
            *((rows.c.kpi == name, _dimension(rows, found[1])) for name, found in BREAKDOWNS.items() if len(found) > 1)
        ),
        "met": case((rows.c.kpi == "sla_compliance", _met(rows.c.dimensions))),
    }
    tallies: dict = defaultdict(_Tally)
    for key, kpi, first, second, is_met, count in _counted(session, rows, true(), kpi=rows.c.kpi, **dimensions):
        tally = tallies[key]
        tally.counts[kpi] += count
        tally.met += count if kpi == "sla_compliance" and is_met else 0
        for dimension, value in zip(BREAKDOWNS.get(kpi, ()), (first, second), strict=False):
            tally.breakdowns[(kpi, dimension)][str(value)] += count
    return tallies


def _durations(session: Session, rows) -> dict:
    """`{(key, kpi): {median, p90, count}}` of `rows` (duration facts only): the values at the middle
    and at the nearest rank of 90% (position ceil(0.9 n), as (9n + 9) div 10 in integers) picked inside
    the database."""
    if session.get_bind().dialect.name == "postgresql":
        return _durations_by_percentile(session, rows)
    seconds = rows.c.seconds
    window = {"partition_by": (rows.c.key, rows.c.kpi)}
    ranked = select(
        rows.c.key,
        rows.c.kpi,
        seconds.label("seconds"),
        func.row_number().over(**window, order_by=seconds).label("position"),
        func.count().over(**window).label("n"),
    ).subquery("ranked")
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


def _durations_by_percentile(session: Session, rows) -> dict:
    """As `_durations`, with PostgreSQL's ordered-set aggregates: the middle value from below and from
    above (equal when the count is odd) and the nearest rank of 90% (`percentile_disc` takes position
    ceil(0.9 n), as `kpis.p90` does), sorted per group, without a window over every value (twice as
    fast at 75,000 values, measured)."""
    seconds = rows.c.seconds
    stmt = select(
        rows.c.key,
        rows.c.kpi,
        func.percentile_disc(0.5).within_group(seconds),
        func.percentile_disc(0.5).within_group(seconds.desc()),
        func.percentile_disc(0.9).within_group(seconds),
        func.count(),
    ).group_by(rows.c.key, rows.c.kpi)
    return {
        (key, kpi): {"median": below if below == above else (below + above) / 2, "p90": p90, "count": count}
        for key, kpi, below, above, p90, count in session.execute(stmt)
    }


def _counted(session: Session, rows, where, **values):
    """`(key, *values, count)` per distinct key and values of the rows matching `where`. The values
    are computed in a subquery and grouped by name: PostgreSQL would see a JSON path repeated in
    `GROUP BY` with its own bound parameters as a different expression."""
    named = select(rows.c.key, *(value.label(name) for name, value in values.items())).where(where).subquery("named")
    columns = [named.c.key, *(named.c[name] for name in values)]
    return session.execute(select(*columns, func.count()).group_by(*columns))


def _won_amounts(session: Session, rows) -> dict:
    """`{key: {currency: total}}`: won amounts summed exactly (as `Decimal`) per currency."""
    amount = rows.c.dimensions["amount"].as_string()
    currency = rows.c.dimensions["currency"].as_string()
    totals: dict = defaultdict(lambda: defaultdict(Decimal))
    where = and_(rows.c.kpi == "deals_won", amount.is_not(None))
    for key, code, value, count in _counted(session, rows, where, currency=currency, amount=amount):
        totals[key][code or "?"] += Decimal(str(value)) * count
    return totals
