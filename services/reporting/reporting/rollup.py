"""The KPI rollup: facts counted per UTC hour, KPI, user, department and breakdown value.

Kept by the event batch that replaces an entity's facts, in its transaction: the facts it deleted are
subtracted, the facts it wrote are added (`record`), so a redelivered event (dropped by `event_id`
before it gets here), an update or a deletion leaves the rollup equal to a plain count of the facts.
Reports read it for the whole UTC hours of their buckets and the facts for the rest
(`reporting.aggregates`): exact in every time zone, and pure rollup in every whole-hour zone.

A row's key is (kpi, hour, user_id, department_id, channel, direction, kind, currency), '' standing for
"none"; its values are the facts' count, the SLA verdicts met, the won deals with an amount and those
amounts (in ten-thousandths: exact integers on both engines), and the durations' seconds summed.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from reporting.kpis import DURATION_KPIS
from reporting.models import Fact, Rollup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY = ("kpi", "hour", "user_id", "department_id", "channel", "direction", "kind", "currency")
VALUES = ("count", "met", "priced", "amount", "seconds")
# Which breakdown column each KPI fills from its dimensions (`reporting.kpis.BREAKDOWNS`, the won currency).
DIMENSION_COLUMNS = {
    "interactions": ("channel", "direction"),
    "campaign_responses": ("kind",),
    "deals_won": ("currency",),
}
UNITS = Decimal(10_000)  # amounts are kept in ten-thousandths: interactions allows four places

# One statement for the whole batch, rows in key order (two batches lock shared rows in one order).
UPSERT_POSTGRESQL = text(
    "INSERT INTO kpi_rollup (kpi, hour, user_id, department_id, channel, direction, kind, currency, "
    "count, met, priced, amount, seconds) "
    "SELECT * FROM unnest(CAST(:kpi AS text[]), CAST(:hour AS bigint[]), CAST(:user_id AS text[]), "
    "CAST(:department_id AS text[]), CAST(:channel AS text[]), CAST(:direction AS text[]), "
    "CAST(:kind AS text[]), CAST(:currency AS text[]), CAST(:count AS bigint[]), CAST(:met AS bigint[]), "
    "CAST(:priced AS bigint[]), CAST(:amount AS bigint[]), CAST(:seconds AS float8[])) "
    "ON CONFLICT (kpi, hour, user_id, department_id, channel, direction, kind, currency) DO UPDATE SET "
    "count = kpi_rollup.count + excluded.count, met = kpi_rollup.met + excluded.met, "
    "priced = kpi_rollup.priced + excluded.priced, amount = kpi_rollup.amount + excluded.amount, "
    "seconds = kpi_rollup.seconds + excluded.seconds"
)


def hour_of(instant: datetime) -> int:
    """The UTC hour holding `instant`, as hours since the epoch."""
    return (instant - EPOCH) // timedelta(hours=1)


def instant_of(hour: int) -> datetime:
    """The UTC instant that opens `hour`."""
    return EPOCH + timedelta(hours=hour)


def _text(value) -> str:
    return "" if value is None else str(value)


def key_of(fact: dict) -> tuple:
    """The rollup row a fact counts in."""
    dimensions = fact["dimensions"] or {}
    breakdown = dict.fromkeys(("channel", "direction", "kind", "currency"), "")
    for column in DIMENSION_COLUMNS.get(fact["kpi"], ()):
        breakdown[column] = _text(dimensions.get(column))
    return (
        fact["kpi"],
        hour_of(fact["occurred_at"]),
        _text(fact["user_id"]),
        _text(fact["department_id"]),
        *breakdown.values(),
    )


def amount_units(amount) -> int:
    """A won amount (a decimal string) in ten-thousandths."""
    return int((Decimal(str(amount)) * UNITS).to_integral_value())


def values_of(fact: dict) -> list:
    """What a fact adds to its row: count, met, priced, amount, seconds."""
    dimensions = fact["dimensions"] or {}
    kpi = fact["kpi"]
    priced = kpi == "deals_won" and dimensions.get("amount") is not None
    return [
        1,
        1 if kpi == "sla_compliance" and dimensions.get("met") else 0,
        1 if priced else 0,
        amount_units(dimensions["amount"]) if priced else 0,
        float(dimensions.get("seconds") or 0.0) if kpi in DURATION_KPIS else 0.0,
    ]


def changes(removed, added) -> dict:
    """`{key: [count, met, priced, amount, seconds]}`: what `added` facts bring and `removed` take away,
    netted per row (an entity whose facts were replaced by equal ones changes nothing)."""
    net: dict = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for sign, facts in ((-1, removed), (1, added)):
        for fact in facts:
            row = net[key_of(fact)]
            for i, value in enumerate(values_of(fact)):
                row[i] += sign * value
    return {key: values for key, values in net.items() if any(values)}


def record(session: Session, removed, added) -> None:
    """Subtract the `removed` facts from the rollup and add the `added` ones, in the caller's transaction."""
    net = changes(removed, added)
    if not net:
        return
    keys = sorted(net)
    if session.get_bind().dialect.name == "postgresql":
        columns = {name: [key[i] for key in keys] for i, name in enumerate(KEY)}
        columns |= {name: [net[key][i] for key in keys] for i, name in enumerate(VALUES)}
        session.execute(UPSERT_POSTGRESQL, columns)
        return
    table = Rollup.__table__
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in KEY],
        set_={name: table.c[name] + stmt.excluded[name] for name in VALUES},
    )
    session.execute(stmt, [dict(zip(KEY, key, strict=True)) | dict(zip(VALUES, net[key], strict=True)) for key in keys])


def rebuild(session: Session, chunk: int = 20_000) -> None:
    """Recount the rollup from every fact (after facts were written other than by events: a bench, a
    test's fixture). The caller commits."""
    columns = (Fact.kpi, Fact.occurred_at, Fact.user_id, Fact.department_id, Fact.dimensions)
    rows = session.execute(select(*columns).execution_options(yield_per=chunk)).mappings()
    total: dict = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for fact in rows:
        row = total[key_of(fact)]
        for i, value in enumerate(values_of(fact)):
            row[i] += value
    session.execute(Rollup.__table__.delete())
    keys = sorted(total)
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        session.execute(
            Rollup.__table__.insert(),
            [dict(zip(KEY, key, strict=True)) | dict(zip(VALUES, total[key], strict=True)) for key in part],
        )
