"""Tickets through the service's methods: SLA due times, comments, the workflow, breaches."""

from datetime import UTC, datetime, timedelta

import pytest
from interactions_world import (
    department,
    events,
    ticket_data,
    user,
)
from sqlalchemy.orm import Session

from crm_kernel.errors import Conflict, ValidationFailed
from interactions import tickets
from interactions.models import Base, OutboxEvent, Ticket
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def overdue(service, ticket_id):
    with Session(service.engine) as session:
        session.get(Ticket, ticket_id).sla_due_at = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()


def test_a_ticket_is_due_after_its_priority_target_counted_in_the_departments_hours_and_zone(service, clock):
    department(service)  # Europe/Berlin, Mon-Fri 09:00-17:00
    service.create_sla_policy({"department_id": "d1", "targets": {"low": 960, "normal": 480, "high": 60, "urgent": 30}})
    # Friday 2026-03-27 16:30 in Berlin (+01:00); Berlin springs forward to +02:00 on Sunday the 29th.
    clock(datetime(2026, 3, 27, 15, 30, tzinfo=UTC), tickets)

    ticket = service.create_ticket(ticket_data())

    assert ticket["status"] == "new"
    assert datetime.fromisoformat(ticket["created_at"]) == datetime(2026, 3, 27, 15, 30, tzinfo=UTC)
    # 60 "high" minutes: 30 on Friday until 17:00, the weekend skipped, 30 on Monday from 09:00 CEST.
    assert datetime.fromisoformat(ticket["sla_due_at"]) == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)


def test_the_first_customer_facing_comment_is_the_first_response(service):
    ticket = service.create_ticket(ticket_data())

    service.comment_ticket(ticket["id"], {"body": "customer sounds upset", "internal": True, "author_id": "u1"})
    assert service.get_ticket(ticket["id"])["first_response_at"] is None
    answer = service.comment_ticket(ticket["id"], {"body": "We are on it", "author_id": "u1"})
    service.comment_ticket(ticket["id"], {"body": "Found it", "author_id": "u1"})

    assert service.get_ticket(ticket["id"])["first_response_at"] == answer["created_at"]
    assert [c["body"] for c in service.list_ticket_comments(ticket["id"])["items"]] == [
        "customer sounds upset",
        "We are on it",
        "Found it",
    ]
    assert events(service, "ticket.commented")[1]["comment"]["internal"] is False


def test_a_ticket_moves_through_the_workflow_and_each_move_is_an_event(service):
    ticket = service.create_ticket(ticket_data())

    for status in ("open", "pending", "open", "resolved"):
        moved = service.transition_ticket(ticket["id"], {"status": status})
    assert moved["resolved_at"] is not None
    with pytest.raises(Conflict):
        service.transition_ticket(ticket["id"], {"status": "pending"})
    reopened = service.transition_ticket(ticket["id"], {"status": "open"})

    assert reopened["resolved_at"] is None
    moves = [(e["from_status"], e["to_status"]) for e in events(service, "ticket.transitioned")]
    assert moves == [
        ("new", "open"),
        ("open", "pending"),
        ("pending", "open"),
        ("open", "resolved"),
        ("resolved", "open"),
    ]


def test_the_status_changes_only_through_transitions(service):
    ticket = service.create_ticket(ticket_data())

    with pytest.raises(ValidationFailed) as refused:
        service.update_ticket(ticket["id"], {"status": "closed"})

    assert list(refused.value.errors) == ["status"]


def test_a_breached_ticket_is_announced_once_and_escalated_to_the_nearest_manager(service):
    department(service, "root")
    department(service, "d1", parent_id="root")
    user(service, "boss", "manager", "root")
    user(service, "agent", "agent", "d1")
    ticket = service.create_ticket(ticket_data())
    overdue(service, ticket["id"])

    assert service.detect_sla_breaches() == 1
    assert service.detect_sla_breaches() == 0

    breaches = events(service, "ticket.sla_breached")
    assert len(breaches) == 1
    assert breaches[0]["entity"]["id"] == ticket["id"]
    assert breaches[0]["escalated_to"] == "boss"
    assert service.get_ticket(ticket["id"])["breached_at"] == breaches[0]["breached_at"]


def test_a_resolved_ticket_never_breaches(service):
    ticket = service.create_ticket(ticket_data())
    service.transition_ticket(ticket["id"], {"status": "open"})
    service.transition_ticket(ticket["id"], {"status": "resolved"})
    overdue(service, ticket["id"])

    assert service.detect_sla_breaches() == 0
    assert events(service, "ticket.sla_breached") == []


def test_a_tickets_comments_come_a_page_at_a_time_oldest_first(service):
    ticket = service.create_ticket(ticket_data())
    for n in range(5):
        service.comment_ticket(ticket["id"], {"body": f"comment {n}", "author_id": "u1"})
    first = service.list_ticket_comments(ticket["id"], {"limit": "2"})
    second = service.list_ticket_comments(ticket["id"], {"limit": "2", "cursor": first["next_cursor"]})
    last = service.list_ticket_comments(ticket["id"], {"limit": "2", "cursor": second["next_cursor"]})
    pages = [[c["body"] for c in page["items"]] for page in (first, second, last)]
    assert pages == [["comment 0", "comment 1"], ["comment 2", "comment 3"], ["comment 4"]]
    assert last["next_cursor"] is None
    with pytest.raises(ValidationFailed) as refused:
        service.list_ticket_comments(ticket["id"], {"limit": "201"})
    assert list(refused.value.errors) == ["limit"]
