"""The reporting service: facts from events, each event counted once, days bucketed in the zone asked for."""

from datetime import datetime, timedelta

import pytest

from crm_kernel.outbox import make_event
from reporting.models import Base, Fact, ProcessedEvent
from reporting.service import ReportingService


@pytest.fixture
def reporting(workers):
    return workers(ReportingService, Base)


def contact_created(created_at="2026-03-10T09:30:00+00:00", **entity):
    contact = {"id": "c1", "created_at": created_at, "owner_id": "u7", "department_id": "d3"}
    return make_event("contact.created", contact | entity, {"actor": "u1"})


def interaction_created(occurred_at="2026-03-10T11:00:00+00:00"):
    interaction = {"id": "i1", "occurred_at": occurred_at, "channel": "call", "direction": "inbound", "user_id": "u7"}
    return make_event("interaction.created", interaction, {"actor": "u1"})


def kpis(reporting, start="2026-03-01", end="2026-03-31", tz="UTC", **query):
    return reporting.kpis({"from": start, "to": end, "tz": tz, **query})["kpis"]


def test_a_redelivered_contact_created_event_counts_once(reporting):
    event = contact_created()

    reporting.on_contact_created(event)
    reporting.on_contact_created(dict(event))

    assert kpis(reporting)["contacts_created"] == 1
    assert len(reporting.rows(Fact)) == 1
    assert [row.event_id for row in reporting.rows(ProcessedEvent)] == [event["event_id"]]


def test_distinct_events_about_contacts_each_count(reporting):
    reporting.on_contact_created(contact_created(id="c1"))
    reporting.on_contact_created(contact_created(id="c2"))
    reporting.on_interaction_created(interaction_created())

    assert kpis(reporting) == {"contacts_created": 2, "interactions": 1}


def test_every_kpi_is_reported_even_when_nothing_happened(reporting):
    assert kpis(reporting) == {"contacts_created": 0, "interactions": 0}


def test_facts_outside_the_period_do_not_count(reporting):
    reporting.on_contact_created(contact_created(created_at="2026-02-28T23:59:59+00:00"))
    reporting.on_contact_created(contact_created(created_at="2026-04-01T00:00:00+00:00"))
    reporting.on_contact_created(contact_created(created_at="2026-03-31T23:59:59+00:00"))

    assert kpis(reporting)["contacts_created"] == 1


def test_days_are_bucketed_in_the_zone_asked_for(reporting):
    # 23:30 UTC on 28 March is already 00:30 on 29 March in Berlin.
    reporting.on_contact_created(contact_created(created_at="2026-03-28T23:30:00+00:00"))

    assert kpis(reporting, "2026-03-29", "2026-03-29", "Europe/Berlin")["contacts_created"] == 1
    assert kpis(reporting, "2026-03-29", "2026-03-29", "UTC")["contacts_created"] == 0
    assert kpis(reporting, "2026-03-28", "2026-03-28", "UTC")["contacts_created"] == 1


def test_kpis_can_be_narrowed_to_a_department_or_user(reporting):
    reporting.on_contact_created(contact_created(owner_id="u7", department_id="d3"))
    reporting.on_contact_created(contact_created(owner_id="u8", department_id="d4"))

    assert kpis(reporting, department_id="d4")["contacts_created"] == 1
    assert kpis(reporting, user_id="u7")["contacts_created"] == 1
    assert kpis(reporting, user_id="nobody")["contacts_created"] == 0


def test_the_report_says_how_fresh_it_is(reporting):
    assert reporting.kpis({"from": "2026-03-01", "to": "2026-03-31"})["fresh_as_of"] is None

    reporting.on_contact_created(contact_created())

    fresh_as_of = reporting.kpis({"from": "2026-03-01", "to": "2026-03-31"})["fresh_as_of"]
    assert datetime.fromisoformat(fresh_as_of).utcoffset() == timedelta(0)
