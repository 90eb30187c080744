"""Reports assembled from aggregated facts: KPIs by group, comparisons, plan against actual. Plain functions."""

from decimal import Decimal

from reporting.kpis import KPIS, TIME_GROUPINGS, DepartmentTree, buckets, kpi_values
from reporting.periods import period_dates


def kpi_report(totals: tuple, grouped: dict | None, params: dict, tree: DepartmentTree, names: dict, now) -> dict:
    """KPIs of the period in total and per group of `params["group_by"]`.

    `totals` and each value of `grouped` (keyed by group, for the groups that hold facts) are
    `(values, breakdowns)`, as `reporting.aggregates.report_kpis` gives them. By department, a
    department's figures include every department below it; `names` labels departments and users.
    """
    kpis = tuple(params.get("kpi") or KPIS)
    group_by, tz = params.get("group_by"), params["tz"]
    nothing = kpi_values([], kpis, now)
    totals, breakdowns = totals
    report = {
        "from": params["from_"].isoformat(),
        "to": params["to"].isoformat(),
        "tz": tz,
        "group_by": group_by,
        "kpis": totals,
        "breakdowns": breakdowns,
    }
    if group_by is None:
        return report
    if group_by in TIME_GROUPINGS:
        keys = buckets(params["from_"], params["to"], group_by)
    elif group_by == "department":
        # Filtered to a department: its subtree only (its facts also count in the departments above it).
        listed = (
            tree.subtree(params["department_id"]) if params.get("department_id") else set(tree.parents) | set(grouped)
        )
        keys = sorted(listed, key=lambda key: (key is None, names.get(key) or key or ""))
    else:
        keys = sorted(grouped, key=lambda key: (key is None, names.get(key) or key or ""))
    report["groups"] = []
    for key in keys:
        values, group_breakdowns = grouped.get(key, nothing)
        label = key if group_by in TIME_GROUPINGS else names.get(key) or key or f"no {group_by}"
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
    names = list(dict.fromkeys(name for flat in flats for name in flat))
    rows = []
    for name in names:
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


def plan_actual(plan: dict, values: dict) -> dict:
    """A plan with its actual and how much of it was reached (actual / plan, as a percentage)."""
    actual = values[plan["metric"]]
    if plan["metric"] == "won_amount":
        actual = actual.get(plan["currency"], "0")
    elif plan["metric"] == "sla_compliance":
        actual = actual["share"]
    target = Decimal(plan["value"])
    reached = None if actual is None or not target else round(float(Decimal(str(actual)) / target * 100), 1)
    return {"plan": plan, "actual": actual, "percentage": reached}


def plan_period(plan: dict) -> tuple:
    return period_dates(plan["period"])
