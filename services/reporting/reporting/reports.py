"""The reports: plain functions over an explicit session and the caller's scope, returning the report
as data (`reporting.render` turns it into JSON, CSV or PNG).

Reports count records, so they follow the record rules (`crm_kernel.scope`: `sees_all_figures`,
`sees_figures_of`): admins and analysts count every department's figures; a manager those of their
department and every department below it; an agent their own. The restriction is part of each query
(totals stay true), and a department or user filter outside it is a 404, as for an unknown id, so a
report never confirms what exists there.
"""

from collections import Counter
from decimal import Decimal

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.departments import DepartmentTree
from crm_kernel.errors import NotFound
from crm_kernel.scope import Scope
from reporting.aggregates import report_kpis
from reporting.events import fresh_as_of
from reporting.kpis import (
    FACT_OF,
    KPIS,
    TIME_GROUPINGS,
    buckets,
    funnel,
    kpi_values,
    period_bounds,
    response_rates,
)
from reporting.models import DealStage, Department, Fact, Rollup, Snapshot, User

SLA_KPIS = ("tickets_opened", "tickets_resolved", "first_response_time", "resolution_time", "sla_compliance")


def sla(db: Session, scope: Scope, params: dict) -> dict:
    """Tickets opened and resolved, first response and resolution times, and SLA compliance."""
    wanted = [name for name in params["kpi"] or SLA_KPIS if name in SLA_KPIS] or list(SLA_KPIS)
    return kpi_report(db, scope, params | {"kpi": wanted})


def funnel_report(db: Session, scope: Scope, params: dict) -> dict:
    """Conversion per pipeline stage and average time in stage of the deals created in the period."""
    created = db.execute(fact_query(db, scope, params, ("deals_created",)))
    deal_ids = [row.source.removeprefix("deal:") for row in created]
    timelines = {deal_id: [] for deal_id in deal_ids}
    amounts = {}
    for batch in range(0, len(deal_ids), 500):
        ids = deal_ids[batch : batch + 500]
        rows = db.execute(
            select(DealStage.deal_id, DealStage.stage, DealStage.entered_at).where(DealStage.deal_id.in_(ids))
        )
        for deal_id, stage, entered_at in rows:
            timelines[deal_id].append((stage, entered_at))
        # each deal's amount as it is now (its newest snapshot), so a deal re-priced later counts so
        snapshots = db.execute(
            select(Snapshot.source, Snapshot.entity).where(Snapshot.source.in_([f"deal:{i}" for i in ids]))
        )
        for source, entity in snapshots:
            amounts[source.removeprefix("deal:")] = (entity.get("amount"), entity.get("currency"))
    return _frame(params) | funnel(timelines, amounts) | {"fresh_as_of": fresh_as_of(db)}


def campaigns(db: Session, scope: Scope, params: dict) -> dict:
    """Campaign responses by kind and each kind's rate relative to the messages sent, per campaign."""
    responses = fact_query(db, scope, params, ("campaign_responses",)).subquery("responses")
    campaign, kind = responses.c.dimensions["campaign_id"].as_string(), responses.c.dimensions["kind"].as_string()
    named = select(campaign.label("campaign_id"), kind.label("kind")).subquery("named")
    total, by_campaign = Counter(), {}
    # Counted in the database by campaign and kind; grouped by name (see reporting.aggregates).
    for campaign_id, kind_of, count in db.execute(
        select(named.c.campaign_id, named.c.kind, func.count()).group_by(named.c.campaign_id, named.c.kind)
    ):
        total[kind_of] += count
        by_campaign.setdefault(campaign_id, Counter())[kind_of] += count
    return _frame(params) | {
        "total": response_rates(total),
        "campaigns": [
            {"campaign_id": campaign_id, **response_rates(by_campaign[campaign_id])}
            for campaign_id in sorted(by_campaign, key=str)
        ],
        "fresh_as_of": fresh_as_of(db),
    }


def compare(db: Session, scope: Scope, params: dict) -> dict:
    """Two periods, or several departments or users, side by side with their differences."""
    sides = []
    if params["compare_from"] is not None:
        for start, end in ((params["from_"], params["to"]), (params["compare_from"], params["compare_to"])):
            sides.append({"from_": start, "to": end, "label": f"{start.isoformat()} – {end.isoformat()}"})
        department_id, user_id = (params["department_id"] or [None])[0], (params["user_id"] or [None])[0]
        sides = [side | {"department_id": department_id, "user_id": user_id} for side in sides]
    else:
        labels = names(db)
        for field in ("department_id", "user_id"):
            for key in params[field] or ():
                other = "user_id" if field == "department_id" else "department_id"
                sides.append({"from_": params["from_"], "to": params["to"], field: key, other: None})
                sides[-1]["label"] = labels.get(key) or key
    values = [kpi_report(db, scope, {**params, **side, "group_by": None})["kpis"] for side in sides]
    columns = [
        {
            "label": side["label"],
            "from": side["from_"].isoformat(),
            "to": side["to"].isoformat(),
            "department_id": side["department_id"],
            "user_id": side["user_id"],
        }
        for side in sides
    ]
    return {"tz": params["tz"], **comparison(columns, values), "fresh_as_of": fresh_as_of(db)}


def check_filters(db: Session, scope: Scope, params: dict) -> None:
    """404, exactly as for an unknown id, for a `department_id` or `user_id` filter of a report's `params`
    (one id, a list of ids, or None) naming a department or user outside `scope`."""
    as_list = lambda value: [value] if isinstance(value, str) else value or []  # noqa: E731
    for department_id in as_list(params.get("department_id")):
        if not scope.sees_figures_of(department_id):
            raise NotFound(f"department {department_id} not found")
    for user_id in as_list(params.get("user_id")):
        if not scope.sees_figures_of(department_of(db, user_id), user_id):
            raise NotFound(f"user {user_id} not found")


def department_of(db: Session, user_id: str) -> str | None:
    """The user's department, per the replica (None for a user it does not know)."""
    return db.scalar(select(User.department_id).where(User.id == user_id))


def kpi_report(db: Session, scope: Scope, params: dict) -> dict:
    """The KPIs of `params["kpi"]` (all by default) of the period, in total and per group of
    `params["group_by"]`, over the facts the caller may count (read from the rollup where it covers
    whole hours, `reporting.aggregates`)."""
    wanted = tuple(params.get("kpi") or KPIS)
    tree, now = department_tree(db, scope), utcnow()
    facts_of = lambda kpis: fact_query(db, scope, params, kpis, tree)  # noqa: E731
    durations_of = lambda kpis: duration_query(db, scope, params, kpis, tree)  # noqa: E731
    rolled = rollup_query(db, scope, params, tuple({FACT_OF[name] for name in wanted}), tree)
    sources = {"facts": facts_of, "durations": durations_of, "rolled": rolled}
    totals, grouped = report_kpis(db, sources, params.get("group_by"), params, tree, wanted, now)
    report = kpi_table(totals, grouped, params | {"kpi": wanted}, tree, names(db), now)
    return report | {"fresh_as_of": fresh_as_of(db)}


def effective_department():
    """A fact's department, or its user's when it has none (the statement must join `User`)."""
    return func.coalesce(Fact.department_id, User.department_id)


def fact_query(db: Session, scope: Scope, params: dict, fact_kpis: tuple, tree: DepartmentTree | None = None):
    """The facts of `fact_kpis` in the period that the caller may count, narrowed to the department (with
    those below it) and user of `params`: kpi, occurred_at, user_id, department_id (the user's when
    the fact has none), dimensions, source."""
    opens, closes = period_bounds(params["from_"], params["to"], params["tz"])
    department = effective_department()
    stmt = (
        select(
            Fact.kpi, Fact.occurred_at, Fact.user_id, department.label("department_id"), Fact.dimensions, Fact.source
        )
        .outerjoin(User, User.id == Fact.user_id)
        .where(Fact.kpi.in_(fact_kpis), Fact.occurred_at >= opens, Fact.occurred_at < closes)
    )
    return _narrowed(db, stmt, Fact.user_id, department, scope, params, tree)


def duration_query(db: Session, scope: Scope, params: dict, fact_kpis: tuple, tree: DepartmentTree | None = None):
    """The duration facts of `fact_kpis` (`reporting.kpis.DURATION_KPIS`) in the period that the caller
    may count, narrowed as `fact_query` narrows them: kpi, occurred_at, user_id, department_id, seconds.
    Only the columns of the durations' own index (`ix_kpi_facts_durations`), so PostgreSQL reads them
    from it alone and parses no JSON."""
    opens, closes = period_bounds(params["from_"], params["to"], params["tz"])
    department = effective_department()
    stmt = (
        select(Fact.kpi, Fact.occurred_at, Fact.user_id, department.label("department_id"), Fact.seconds)
        .outerjoin(User, User.id == Fact.user_id)
        .where(Fact.kpi.in_(fact_kpis), Fact.occurred_at >= opens, Fact.occurred_at < closes)
    )
    return _narrowed(db, stmt, Fact.user_id, department, scope, params, tree)


def rollup_query(db: Session, scope: Scope, params: dict, fact_kpis: tuple, tree: DepartmentTree | None = None):
    """The rollup rows of `fact_kpis` that the caller may count, narrowed as `fact_query` narrows facts
    (the period is the caller's to apply, by hour): kpi, hour, user_id, department_id (the user's when
    the row has none), channel, direction, kind, currency (None for none), count, met, priced, amount."""
    department = func.coalesce(func.nullif(Rollup.department_id, ""), User.department_id)
    breakdown = [
        func.nullif(getattr(Rollup, name), "").label(name) for name in ("channel", "direction", "kind", "currency")
    ]
    stmt = (
        select(
            Rollup.kpi,
            Rollup.hour,
            func.nullif(Rollup.user_id, "").label("user_id"),
            department.label("department_id"),
            *breakdown,
            Rollup.count,
            Rollup.met,
            Rollup.priced,
            Rollup.amount,
        )
        .outerjoin(User, User.id == Rollup.user_id)
        .where(Rollup.kpi.in_(fact_kpis), Rollup.count != 0)
    )
    return _narrowed(db, stmt, Rollup.user_id, department, scope, params, tree)


def _narrowed(db: Session, stmt, user_id, department, scope: Scope, params: dict, tree: DepartmentTree | None):
    """`stmt` restricted to what `scope` may count and to the department (with those below it) and user
    filters of `params`; `user_id` and `department` are the columns that say whose a row is."""
    if not scope.sees_all_figures:
        if scope.role == "manager":
            stmt = stmt.where(department.in_(scope.departments))
        elif scope.role == "agent":
            stmt = stmt.where(user_id == scope.user_id)
        else:
            stmt = stmt.where(false())
    if params.get("department_id"):
        stmt = stmt.where(department.in_((tree or department_tree(db, scope)).subtree(params["department_id"])))
    if params.get("user_id"):
        stmt = stmt.where(user_id == params["user_id"])
    return stmt


def department_tree(db: Session, scope: Scope) -> DepartmentTree:
    """The department tree as far as the caller sees it: their top departments become roots, so figures
    grouped by department roll up no further than the caller may look."""
    rows = db.execute(select(Department.id, Department.parent_id).where(Department.deleted.is_(False)))
    tree = DepartmentTree(dict(rows.all()))
    if scope.sees_all_figures:
        return tree
    shown = set(scope.departments)  # a manager's subtree; an agent's own department
    return DepartmentTree(
        {key: (parent if parent in shown else None) for key, parent in tree.parents.items() if key in shown}
    )


def names(db: Session) -> dict:
    """The name of every department and user, by id, to label groups and columns."""
    departments = db.execute(select(Department.id, Department.name)).all()
    users = db.execute(select(User.id, User.name)).all()
    return {key: name for key, name in [*departments, *users] if name}


def kpi_table(totals: tuple, grouped: dict | None, params: dict, tree: DepartmentTree, labels: dict, now) -> dict:
    """KPIs of the period in total and per group of `params["group_by"]`.

    `totals` and each value of `grouped` (keyed by group, for the groups that hold facts) are
    `(values, breakdowns)`, as `reporting.aggregates.report_kpis` gives them. By department, a
    department's figures include every department below it; `labels` names departments and users.
    """
    wanted = tuple(params.get("kpi") or KPIS)
    group_by = params.get("group_by")
    nothing = kpi_values([], wanted, now)
    totals, breakdowns = totals
    report = _frame(params) | {"group_by": group_by, "kpis": totals, "breakdowns": breakdowns}
    if group_by is None:
        return report
    if group_by in TIME_GROUPINGS:
        keys = buckets(params["from_"], params["to"], group_by)
    elif group_by == "department":
        # Filtered to a department: its subtree only (its facts also count in the departments above it).
        listed = (
            tree.subtree(params["department_id"]) if params.get("department_id") else set(tree.parents) | set(grouped)
        )
        keys = sorted(listed, key=lambda key: (key is None, labels.get(key) or key or ""))
    else:
        keys = sorted(grouped, key=lambda key: (key is None, labels.get(key) or key or ""))
    report["groups"] = []
    for key in keys:
        values, group_breakdowns = grouped.get(key, nothing)
        label = key if group_by in TIME_GROUPINGS else labels.get(key) or key or f"no {group_by}"
        report["groups"].append({"key": key, "label": label, "kpis": values, "breakdowns": group_breakdowns})
    return report


def flatten(values: dict) -> dict:
    """KPI values as one number per name (`resolution_time.median`, `won_amount.EUR`, ...), for tables."""
    flat = {}
    for name, value in values.items():
        if isinstance(value, dict):
            parts = {"median": value["median"], "p90": value["p90"]} if "median" in value else value
            if "share" in value:
                parts = {"share": value["share"]}
            for part, number in parts.items():
                flat[f"{name}.{part}"] = number
        else:
            flat[name] = value
    return flat


def _number(value):
    return Decimal(value) if isinstance(value, str) else value


def difference(baseline, other) -> tuple:
    """Absolute and relative difference of `other` against `baseline` (None where undefined)."""
    if baseline is None or other is None:
        return None, None
    absolute = _number(other) - _number(baseline)
    relative = round(float(absolute) / float(_number(baseline)), 4) if _number(baseline) else None
    return (str(absolute) if isinstance(absolute, Decimal) else round(absolute, 4)), relative


def comparison(columns: list[dict], values: list[dict]) -> dict:
    """Columns side by side, each KPI with its values and each column's difference from the first."""
    flats = [flatten(column_values) for column_values in values]
    kpi_names = list(dict.fromkeys(name for flat in flats for name in flat))
    rows = []
    for name in kpi_names:
        row_values = [flat.get(name) for flat in flats]
        differences = [difference(row_values[0], value) for value in row_values[1:]]
        rows.append(
            {
                "kpi": name,
                "values": row_values,
                "difference": [None, *(absolute for absolute, _ in differences)],
                "relative": [None, *(relative for _, relative in differences)],
            }
        )
    return {"columns": columns, "rows": rows}


def _frame(params: dict) -> dict:
    return {"from": params["from_"].isoformat(), "to": params["to"].isoformat(), "tz": params["tz"]}
