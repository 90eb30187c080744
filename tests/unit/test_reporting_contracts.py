"""Reporting fed the events the producers' own code publishes (not events written by hand).

The contacts and interactions services run their real methods over in-memory databases; whatever
their outboxes recorded is applied to reporting, in order. A field a producer renames or stops
sending shows up here as a KPI that no longer counts.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from reporting_events import apply

from contacts.models import Base as ContactsBase
from contacts.models import OutboxEvent as ContactsOutbox
from contacts.service import ContactsService
from crm_kernel import outbox
from interactions import campaigns, deals, interactions, tasks, tickets
from interactions.models import Base as InteractionsBase
from interactions.models import OutboxEvent as InteractionsOutbox
from interactions.service import InteractionsService
from reporting.models import Base as ReportingBase
from reporting.models import OutboxEvent as ReportingOutbox
from reporting.service import ReportingService

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PRODUCER_CLOCKS = (outbox, campaigns, deals, interactions, tasks, tickets)


@pytest.fixture
def producers(workers):
    return workers(ContactsService, ContactsBase, ContactsOutbox), workers(
        InteractionsService, InteractionsBase, InteractionsOutbox
    )


@pytest.fixture
def reporting(workers):
    return workers(ReportingService, ReportingBase, ReportingOutbox)


def test_reporting_counts_what_the_producers_really_publish(producers, reporting, clock):
    contacts, interactions = producers

    def at(minutes: int) -> None:
        clock(START + timedelta(minutes=minutes), *PRODUCER_CLOCKS)

    at(0)
    contact = contacts.create_contact({"first_name": "Ada", "emails": ["ada@example.com"], "department_id": "d1"})
    about = {"contact_id": contact["id"], "department_id": "d1"}
    interactions.create_interaction(
        {"channel": "email", "direction": "outbound", "occurred_at": START.isoformat(), "user_id": "u1", **about}
    )
    ticket = interactions.create_ticket({"subject": "Broken", "priority": "urgent", "assignee_id": "u1", **about})
    at(15)
    interactions.comment_ticket(ticket["id"], {"body": "On its way", "author_id": "u1"})
    at(45)
    interactions.transition_ticket(ticket["id"], {"status": "open"})
    interactions.transition_ticket(ticket["id"], {"status": "resolved"})
    deal = interactions.create_deal(
        {"title": "Engines", "amount": "99.90", "currency": "EUR", "owner_id": "u1", **about}
    )
    for stage in ("qualified", "proposal", "negotiation", "won"):
        interactions.transition_deal(deal["id"], {"stage": stage})
    task = interactions.create_task({"title": "Call back", "assignee_id": "u1", **about})
    interactions.update_task(task["id"], {"status": "done"})
    campaign = interactions.create_campaign({"name": "Spring", "department_id": "d1"})
    interactions.record_campaign_response(campaign["id"], {"contact_id": contact["id"], "kind": "opened"}, True)

    published = [row.payload for row in contacts.rows(ContactsOutbox, ContactsOutbox.id)]
    published += [row.payload for row in interactions.rows(InteractionsOutbox, InteractionsOutbox.id)]
    for event in published:
        apply(reporting, event)
    # contact.created carries its row's created_at (the real clock): a period around today holds it too.
    period = {"from": "2026-03-01", "to": (date.today() + timedelta(days=1)).isoformat(), "tz": "UTC"}
    kpis = reporting.kpis({**period, "department_id": "d1"})["kpis"]

    assert kpis["contacts_created"] == 1
    assert kpis["interactions"] == 1
    assert (kpis["tickets_opened"], kpis["tickets_resolved"]) == (1, 1)
    assert kpis["first_response_time"] == {"median": 900.0, "p90": 900.0, "count": 1}  # 15 minutes
    assert kpis["resolution_time"] == {"median": 2700.0, "p90": 2700.0, "count": 1}  # 45 minutes
    assert kpis["sla_compliance"] == {"met": 1, "breached": 0, "share": 1.0}
    assert (kpis["deals_created"], kpis["deals_won"], kpis["deals_lost"]) == (1, 1, 0)
    assert kpis["won_amount"] == {"EUR": "99.90"}
    assert (kpis["tasks_completed"], kpis["tasks_overdue"]) == (1, 0)
    assert kpis["campaign_responses"] == 1
