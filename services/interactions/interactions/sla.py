"""SLA arithmetic: a clock that only runs during a department's working hours, in its own zone.

Working hours are `{"mon": [["09:00", "17:00"]], ...}` in the department's local time (`"24:00"` ends
a day). Each local interval is mapped to UTC with the zone's rules of that very day, so a working day
that contains a DST change is as long as it really is, and nights, weekends and lunch breaks (the
gaps between intervals) do not count.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WORKING_HOURS = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]} | {"sat": [], "sun": []}
PRIORITIES = ("low", "normal", "high", "urgent")
# Working minutes to resolve a ticket when its department has no SLA policy.
DEFAULT_TARGETS = {"low": 2400, "normal": 960, "high": 480, "urgent": 120}
_HORIZON_DAYS = 3700  # ten years: a target that does not fit in it is a configuration error
# Bounds that make every target fit in the horizon, so a due time takes at most _HORIZON_DAYS steps:
# 30,000 working minutes at one working hour a week are 500 weeks, 3,500 days.
MIN_WEEKLY_MINUTES = 60
MAX_TARGET_MINUTES = 30_000


def working_hours_problems(working_hours: dict) -> list[str]:
    """The problems of `working_hours`: unknown days, bad times, empty or overlapping intervals."""
    problems = []
    for day, intervals in working_hours.items():
        if day not in WEEKDAYS:
            problems.append(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
            continue
        previous_end = None
        try:
            parsed = sorted((_minute(start), _minute(end)) for start, end in intervals)
        except (TypeError, ValueError):
            problems.append(f'{day}: each interval is ["HH:MM", "HH:MM"]')
            continue
        for start, end in parsed:
            if start >= end:
                problems.append(f"{day}: {_hhmm(start)} is not before {_hhmm(end)}")
            elif previous_end is not None and start < previous_end:
                problems.append(f"{day}: intervals overlap at {_hhmm(start)}")
            previous_end = end if previous_end is None else max(previous_end, end)
    if not problems and 0 < weekly_minutes(working_hours) < MIN_WEEKLY_MINUTES:
        problems.append(f"at least {MIN_WEEKLY_MINUTES} working minutes a week (or none: the clock runs always)")
    return problems


def weekly_minutes(working_hours: dict) -> int:
    """The working minutes of a week (valid hours only)."""
    return sum(_minute(end) - _minute(start) for intervals in working_hours.values() for start, end in intervals or [])


def working_intervals(start_utc: datetime, working_hours: dict, tz: str) -> Iterator[tuple[datetime, datetime]]:
    """The UTC working intervals from `start_utc` on, in order, disjoint, clipped to start there."""
    zone = ZoneInfo(tz)
    day = start_utc.astimezone(zone).date() - timedelta(days=1)  # an interval of yesterday may still run
    cursor = start_utc
    for _ in range(_HORIZON_DAYS):
        for opens, closes in _local_intervals(day, working_hours, zone):
            opens = max(opens, cursor)
            if closes > opens:
                yield opens, closes
                cursor = closes
        day += timedelta(days=1)


def due_time(start_utc: datetime, minutes: int, working_hours: dict, tz: str) -> datetime:
    """The moment `minutes` of working time after `start_utc` have passed (UTC).

    Without any working hours the clock runs around the clock.
    """
    if minutes <= 0:
        return start_utc.astimezone(UTC)
    if not _has_hours(working_hours):
        return start_utc.astimezone(UTC) + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    for opens, closes in working_intervals(start_utc.astimezone(UTC), working_hours, tz):
        if closes - opens >= remaining:
            return opens + remaining
        remaining -= closes - opens
    raise ValueError(f"{minutes} working minutes do not fit in {_HORIZON_DAYS} days of these working hours")


def working_minutes(start_utc: datetime, end_utc: datetime, working_hours: dict, tz: str) -> float:
    """How many minutes of working time lie between two moments."""
    if end_utc <= start_utc:
        return 0.0
    if not _has_hours(working_hours):
        return (end_utc - start_utc).total_seconds() / 60
    total = timedelta()
    for opens, closes in working_intervals(start_utc.astimezone(UTC), working_hours, tz):
        if opens >= end_utc:
            break
        total += min(closes, end_utc) - opens
    return total.total_seconds() / 60


def _local_intervals(day: date, working_hours: dict, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    intervals = []
    for start, end in sorted(working_hours.get(WEEKDAYS[day.weekday()]) or []):
        intervals.append((_at(day, _minute(start), zone), _at(day, _minute(end), zone)))
    return intervals


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Local wall-clock time on `day` in UTC (a time skipped by DST maps as zoneinfo's fold=0 does)."""
    day, minute = (day + timedelta(days=1), 0) if minute >= 24 * 60 else (day, minute)
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _has_hours(working_hours: dict) -> bool:
    return any(_minute(end) > _minute(start) for intervals in working_hours.values() for start, end in intervals or [])


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise ValueError(hhmm)
    return value


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def sla_terms(policy_targets: dict | None, policy_hours: dict | None, department: tuple | None) -> tuple:
    """The targets, working hours and zone a ticket's clock runs by.

    The department's policy decides the targets (the defaults without one) and may set its own
    hours; otherwise the department's working hours and zone apply (`department` is
    `(working_hours, timezone)` from the replica, or None when unknown: Mon-Fri 09-17 UTC).
    """
    targets = policy_targets or DEFAULT_TARGETS
    hours, tz = department if department is not None else (DEFAULT_WORKING_HOURS, "UTC")
    return targets, policy_hours or hours or DEFAULT_WORKING_HOURS, tz or "UTC"
