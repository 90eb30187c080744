"""KPI arithmetic: which events count, and which UTC instants bound a period of local days."""

from datetime import UTC, date, datetime, timedelta

from crm_kernel.outbox import make_event
from reporting.kpis import fact_from_event, period_bounds


def contact_created(**entity):
    contact = {"id": "c1", "created_at": "2026-03-10T09:30:00+00:00", "owner_id": "u7", "department_id": "d3"}
    return make_event("contact.created", contact | entity, {"actor": "u1"})


def interaction_created(**entity):
    interaction = {
        "id": "i1",
        "occurred_at": "2026-03-09T16:00:00+00:00",
        "created_at": "2026-03-10T08:00:00+00:00",
        "channel": "email",
        "direction": "outbound",
        "user_id": "u7",
        "department_id": "d3",
    }
    return make_event("interaction.created", interaction | entity, {"actor": "u1"})


def utc_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    opens, closes = period_bounds(start, end, tz)
    return opens.astimezone(UTC), closes.astimezone(UTC)


def test_a_created_contact_counts_when_created_for_its_owner_and_department():
    fact = fact_from_event(contact_created())

    assert fact == {
        "kpi": "contacts_created",
        "occurred_at": "2026-03-10T09:30:00+00:00",
        "user_id": "u7",
        "department_id": "d3",
        "dimensions": {},
    }


def test_an_interaction_counts_when_it_occurred_not_when_it_was_recorded():
    fact = fact_from_event(interaction_created())

    assert fact["kpi"] == "interactions"
    assert fact["occurred_at"] == "2026-03-09T16:00:00+00:00"
    assert (fact["user_id"], fact["department_id"]) == ("u7", "d3")
    assert fact["dimensions"] == {"channel": "email", "direction": "outbound"}


def test_an_unrelated_event_counts_for_nothing():
    assert fact_from_event(make_event("contact.updated", {"id": "c1"}, {})) is None


def test_a_utc_day_is_bounded_by_midnight_utc():
    assert utc_bounds(date(2026, 3, 29), date(2026, 3, 29), "UTC") == (
        datetime(2026, 3, 29, tzinfo=UTC),
        datetime(2026, 3, 30, tzinfo=UTC),
    )


def test_a_period_includes_its_last_day():
    opens, closes = utc_bounds(date(2026, 2, 1), date(2026, 2, 28), "UTC")

    assert closes - opens == timedelta(days=28)


def test_the_berlin_day_clocks_go_forward_lasts_23_hours():
    opens, closes = utc_bounds(date(2026, 3, 29), date(2026, 3, 29), "Europe/Berlin")

    assert opens == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert closes == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert closes - opens == timedelta(hours=23)


def test_the_berlin_day_clocks_go_back_lasts_25_hours():
    opens, closes = utc_bounds(date(2026, 10, 25), date(2026, 10, 25), "Europe/Berlin")

    assert opens == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert closes == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert closes - opens == timedelta(hours=25)
