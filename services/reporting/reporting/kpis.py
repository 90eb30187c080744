"""KPI arithmetic: plain functions from events and facts to numbers, with no broker and no database."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KPIS = ("contacts_created", "interactions")


def fact_from_event(event: dict) -> dict | None:
    """The fact an event contributes to the KPIs, or None for events that count for nothing."""
    entity = event["entity"]
    if event["type"] == "contact.created":
        return {
            "kpi": "contacts_created",
            "occurred_at": entity["created_at"],
            "user_id": entity.get("owner_id"),
            "department_id": entity.get("department_id"),
            "dimensions": {},
        }
    if event["type"] == "interaction.created":
        return {
            "kpi": "interactions",
            "occurred_at": entity["occurred_at"],
            "user_id": entity.get("user_id"),
            "department_id": entity.get("department_id"),
            "dimensions": {"channel": entity["channel"], "direction": entity["direction"]},
        }
    return None


def period_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants that open `start` and close `end` (inclusive) as calendar days in `tz`."""
    zone = ZoneInfo(tz)
    opens = datetime.combine(start, time.min, tzinfo=zone)
    closes = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    return opens.astimezone(UTC), closes.astimezone(UTC)
