"""Reporting applies events in batches: one transaction per batch, the same numbers as one by one."""

import random

import pytest
from reporting_events import apply, apply_batch, contact_created, deal_history, event, interaction_created, ticket

from reporting.models import Base, OutboxEvent, ProcessedEvent
from reporting.service import ReportingService

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def two_services(workers):
    return workers(ReportingService, Base, OutboxEvent), workers(ReportingService, Base, OutboxEvent)


def history() -> list[dict]:
    opened = ticket("2026-03-02T09:00:00+00:00")
    answered = opened | {"first_response_at": "2026-03-02T09:20:00+00:00"}
    resolved = answered | {"resolved_at": "2026-03-02T11:00:00+00:00", "sla_due_at": "2026-03-02T17:00:00+00:00"}
    return [
        *(contact_created(f"2026-03-{day:02d}T10:00:00+00:00") for day in range(1, 29)),
        *(interaction_created(f"2026-03-{day:02d}T12:00:00+00:00") for day in range(3, 9)),
        event("ticket.created", opened, opened["created_at"]),
        event("ticket.updated", answered, "2026-03-02T09:20:00+00:00"),
        event("ticket.updated", resolved, "2026-03-02T11:00:00+00:00"),
        *deal_history(
            "2026-03-02T09:00:00+00:00",
            [("qualified", "2026-03-03T09:00:00+00:00"), ("won", "2026-03-05T09:00:00+00:00")],
        ),
    ]


def test_a_batch_gives_the_numbers_of_its_events_applied_one_by_one(two_services):
    one_by_one, batched = two_services
    events = history()
    for each in events:
        apply(one_by_one, each)

    apply_batch(batched, events)

    assert batched.kpis(MARCH | {"group_by": "day"}) | {"fresh_as_of": None} == one_by_one.kpis(
        MARCH | {"group_by": "day"}
    ) | {"fresh_as_of": None}
    assert batched.funnel(MARCH)["stages"] == one_by_one.funnel(MARCH)["stages"]


def test_a_batch_in_any_order_ends_in_the_newest_state(two_services):
    in_order, shuffled = two_services
    events = history()
    apply_batch(in_order, events)
    mixed = list(events)
    random.Random(3).shuffle(mixed)

    apply_batch(shuffled, mixed)

    assert shuffled.kpis(MARCH)["kpis"] == in_order.kpis(MARCH)["kpis"]


def test_an_event_repeated_within_a_batch_or_in_a_redelivered_batch_counts_once(two_services):
    reporting, _ = two_services
    events = [contact_created(f"2026-03-{day:02d}T10:00:00+00:00") for day in (2, 3, 4)]

    apply_batch(reporting, [*events, events[0]])
    apply_batch(reporting, events)

    assert reporting.kpis(MARCH)["kpis"]["contacts_created"] == 3
    assert len(reporting.rows(ProcessedEvent)) == 3


def test_an_event_the_database_refuses_holds_back_no_other_and_fails_the_batch(two_services):
    reporting, _ = two_services
    good = [contact_created(f"2026-03-{day:02d}T10:00:00+00:00") for day in (2, 3)]
    bad = contact_created("2026-03-05T10:00:00+00:00")
    bad["entity"]["created_at"] = None  # the projection cannot place it in time

    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the database or projection raised
        apply_batch(reporting, [good[0], bad, good[1]])

    assert reporting.kpis(MARCH)["kpis"]["contacts_created"] == 2
    assert {row.event_id for row in reporting.rows(ProcessedEvent)} == {each["event_id"] for each in good}
