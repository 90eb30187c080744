"""KPI arithmetic: plain functions from facts to numbers, with no broker and no database.

A fact is a dict: `kpi`, `occurred_at` (aware UTC datetime), `user_id`, `department_id`, `dimensions`.
"""

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crm_kernel.departments import DepartmentTree

KPIS = (
    "contacts_created",
    "interactions",
    "tickets_opened",
    "tickets_resolved",
    "first_response_time",
    "resolution_time",
    "sla_compliance",
    "deals_created",
    "deals_won",
    "deals_lost",
    "won_amount",
    "tasks_completed",
    "tasks_overdue",
    "campaign_responses",
)
DURATION_KPIS = ("first_response_time", "resolution_time")
COUNT_KPIS = tuple(name for name in KPIS if name not in (*DURATION_KPIS, "sla_compliance", "won_amount"))
# The facts a KPI is computed from (won amounts are the amounts of the deals won).
FACT_OF = {name: name for name in KPIS} | {"won_amount": "deals_won"}
BREAKDOWNS = {"interactions": ("channel", "direction"), "campaign_responses": ("kind",)}

TIME_GROUPINGS = ("day", "week", "month")
GROUPINGS = ("user", "department", *TIME_GROUPINGS)
# The longest period (in days, inclusive) a grouping may span: beyond it a table or chart is unreadable.
MAX_DAYS = {"day": 366, "week": 5 * 366, "month": 10 * 366, "user": 10 * 366, "department": 10 * 366, None: 10 * 366}

PIPELINE = ("lead", "qualified", "proposal", "negotiation", "won")


def period_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants that open `start` and close `end` (inclusive) as calendar days in `tz`."""
    zone = ZoneInfo(tz)
    opens = datetime.combine(start, time.min, tzinfo=zone)
    closes = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    return opens.astimezone(UTC), closes.astimezone(UTC)


def label_of_day(day: date, group_by: str) -> str:
    if group_by == "day":
        return day.isoformat()
    if group_by == "week":
        year, week, _ = day.isocalendar()  # ISO weeks start on Monday; week 1 holds the first Thursday
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def bucket(instant_utc: datetime, group_by: str, tz: str) -> str:
    """The day (`2026-03-29`), ISO week (`2026-W13`) or month (`2026-03`) of an instant, in `tz`."""
    return label_of_day(instant_utc.astimezone(ZoneInfo(tz)).date(), group_by)


def buckets(start: date, end: date, group_by: str) -> list[str]:
    """Every label from `start` to `end` inclusive, in order (empty ones too, so charts show gaps)."""
    labels = []
    for ordinal in range(start.toordinal(), end.toordinal() + 1):
        label = label_of_day(date.fromordinal(ordinal), group_by)
        if not labels or labels[-1] != label:
            labels.append(label)
    return labels


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    """The 90th percentile by nearest rank: the smallest value with at least 90% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def kpi_value(name: str, facts: list[dict]):
    """The value of KPI `name` over `facts` (already narrowed to that KPI's facts)."""
    if name in DURATION_KPIS:
        seconds = [fact["dimensions"]["seconds"] for fact in facts]
        return {"median": median(seconds), "p90": p90(seconds), "count": len(seconds)}
    if name == "sla_compliance":
        met = sum(1 for fact in facts if fact["dimensions"]["met"])
        judged = len(facts)
        return {"met": met, "breached": judged - met, "share": round(met / judged, 4) if judged else None}
    if name == "won_amount":
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for fact in facts:
            if fact["dimensions"].get("amount") is not None:
                totals[fact["dimensions"].get("currency") or "?"] += Decimal(str(fact["dimensions"]["amount"]))
        return {currency: str(total) for currency, total in sorted(totals.items())}
    return len(facts)


def kpi_values(facts: list[dict], names: tuple, now: datetime) -> tuple[dict, dict]:
    """Every KPI of `names` over `facts`, and the breakdowns (interactions by channel and direction,
    campaign responses by kind). A task counts as overdue only once its due time has passed."""
    by_kpi = defaultdict(list)
    for fact in facts:
        if fact["kpi"] != "tasks_overdue" or fact["occurred_at"] <= now:
            by_kpi[fact["kpi"]].append(fact)
    values = {name: kpi_value(name, by_kpi[FACT_OF[name]]) for name in names}
    breakdowns = {
        name: {
            dimension: dict(sorted(Counter(str(fact["dimensions"].get(dimension)) for fact in by_kpi[name]).items()))
            for dimension in dimensions
        }
        for name, dimensions in BREAKDOWNS.items()
        if name in names
    }
    return values, breakdowns


def group_keys(fact: dict, group_by: str | None, tz: str, tree: DepartmentTree) -> list:
    """The groups a fact counts in: one, except by department, where it counts in every ancestor too."""
    if group_by is None:
        return [None]
    if group_by in TIME_GROUPINGS:
        return [bucket(fact["occurred_at"], group_by, tz)]
    if group_by == "user":
        return [fact["user_id"]]
    return tree.ancestors(fact["department_id"]) or [None]


def funnel(timelines: dict[str, list[tuple[str, datetime]]], amounts: dict | None = None) -> dict:
    """Conversion per pipeline stage and average time in each stage, from each deal's stage timeline.

    A deal reached a stage when it entered it or any later pipeline stage (skipping counts as passing);
    a lost deal reached the furthest stage it entered before it was lost. Conversion of a stage is the
    share of the deals that reached it that reached the next. Time in a stage counts finished stays only.
    `amounts` maps a deal to its `(amount, currency)`: each stage sums the amounts of the deals that
    reached it, per currency (amounts in different currencies are never added up).
    """
    amounts = amounts or {}
    reached = Counter()
    reached_amount: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    stays = defaultdict(list)
    won = lost = 0
    for deal_id, timeline in timelines.items():
        ordered = sorted(timeline, key=lambda entry: entry[1])
        furthest = max((PIPELINE.index(stage) for stage, _ in ordered if stage in PIPELINE), default=-1)
        amount, currency = amounts.get(deal_id, (None, None))
        for index in range(furthest + 1):
            reached[PIPELINE[index]] += 1
            if amount is not None:
                reached_amount[PIPELINE[index]][currency or "?"] += Decimal(str(amount))
        for (stage, entered), (_, left) in zip(ordered, ordered[1:], strict=False):
            stays[stage].append((left - entered).total_seconds())
        last = ordered[-1][0] if ordered else None
        won += last == "won"
        lost += last == "lost"
    stages = []
    for index, stage in enumerate(PIPELINE):
        following = reached[PIPELINE[index + 1]] if index + 1 < len(PIPELINE) else None
        stages.append(
            {
                "stage": stage,
                "reached": reached[stage],
                "conversion_to_next": (
                    round(following / reached[stage], 4) if following is not None and reached[stage] else None
                ),
                "average_time_in_stage_s": (round(sum(stays[stage]) / len(stays[stage]), 1) if stays[stage] else None),
                "amount": {currency: str(total) for currency, total in sorted(reached_amount[stage].items())},
            }
        )
    deals = len(timelines)
    return {
        "deals": deals,
        "won": won,
        "lost": lost,
        "win_rate": round(won / deals, 4) if deals else None,
        "stages": stages,
    }


def response_rates(counts: Counter) -> dict:
    """Campaign responses by kind (`counts` of each kind), and each kind's rate relative to those sent."""
    sent = counts.get("sent", 0)
    kinds = ("sent", "opened", "clicked", "replied", "converted", "declined")
    return {
        "responses": {kind: counts.get(kind, 0) for kind in kinds},
        "rates": {kind: round(counts.get(kind, 0) / sent, 4) if sent else None for kind in kinds if kind != "sent"},
    }
