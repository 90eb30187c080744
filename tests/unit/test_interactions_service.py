"""The interactions service's methods over a real (in-memory) database: interactions and tickets."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from crm_kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.outbox import make_event
from interactions import tickets
from interactions.models import Base, OutboxEvent, Ticket
from interactions.service import InteractionsService

BERLIN_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def events(service, event_type=None):
    return [row.payload for row in service.rows(OutboxEvent, OutboxEvent.id) if event_type in (None, row.type)]


def call(**overrides):
    return {
        "contact_id": "c1",
        "channel": "call",
        "direction": "inbound",
        "occurred_at": "2026-03-10T10:15:00+01:00",
        "duration_s": 240,
        "subject": "Complains about a late delivery",
        "user_id": "u1",
    } | overrides


def department(service, department_id="d1", parent_id=None, timezone="Europe/Berlin", hours=BERLIN_HOURS):
    entity = {"id": department_id, "name": department_id, "parent_id": parent_id, "timezone": timezone}
    service.on_department_created(make_event("department.created", entity | {"working_hours": hours}, {}))


def user(service, user_id, role, department_id, email=None, timezone="UTC"):
    entity = {"id": user_id, "email": email or f"{user_id}@example.com", "role": role}
    entity |= {"department_id": department_id, "timezone": timezone, "active": True}
    service.on_user_created(make_event("user.created", entity, {}))


# -- interactions ------------------------------------------------------------------------------


def test_an_interaction_keeps_the_customers_requirements_in_a_structured_form(service):
    requirements = [{"topic": "Delivery", "detail": "only mornings", "priority": "high"}, {"topic": "Invoice"}]

    created = service.create_interaction(call(requirements=requirements))

    assert created["requirements"] == [
        {"topic": "Delivery", "detail": "only mornings", "priority": "high"},
        {"topic": "Invoice", "detail": "", "priority": "normal"},
    ]
    assert created["occurred_at"] == "2026-03-10T09:15:00+00:00"
    assert events(service, "interaction.created")[0]["entity"]["requirements"] == created["requirements"]


def test_a_requirement_with_an_unknown_priority_is_refused_and_nothing_is_written(service):
    with pytest.raises(ValidationFailed) as refused:
        service.create_interaction(call(requirements=[{"topic": "Delivery", "priority": "asap"}]))

    assert refused.value.errors == {"requirements": {0: {"priority": ["Must be one of: low, normal, high."]}}}
    assert events(service) == []


def test_interactions_are_found_by_subject_body_and_requirements(service):
    late = service.create_interaction(call(subject="Late delivery"))
    wants = service.create_interaction(
        call(subject="Call", requirements=[{"topic": "Pricing", "detail": "Wants VOLUME discount"}])
    )
    service.create_interaction(call(subject="Unrelated", body="nothing to see"))

    assert [i["id"] for i in service.list_interactions({"q": "DELIVERY"})["items"]] == [late["id"]]
    assert [i["id"] for i in service.list_interactions({"q": "volume disc"})["items"]] == [wants["id"]]
    assert [i["id"] for i in service.list_interactions({"q": "pricing"})["items"]] == [wants["id"]]


def test_an_interaction_changes_only_at_the_version_the_caller_read(service):
    created = service.create_interaction(call())

    changed = service.update_interaction(created["id"], {"outcome": "refund promised"}, 1)
    with pytest.raises(PreconditionFailed):
        service.update_interaction(created["id"], {"outcome": "lost"}, 1)

    assert (changed["version"], changed["outcome"]) == (2, "refund promised")
    assert events(service, "interaction.updated")[0]["changes"] == {"outcome": [None, "refund promised"]}
    assert service.get_interaction(created["id"])["outcome"] == "refund promised"


def test_a_deleted_interaction_leaves_reads_and_lists_but_its_history_stays(service):
    created = service.create_interaction(call())

    service.delete_interaction(created["id"], 1)

    with pytest.raises(NotFound):
        service.get_interaction(created["id"])
    assert service.list_interactions({})["items"] == []
    assert [e["type"] for e in events(service)] == ["interaction.created", "interaction.deleted"]


# -- tickets -----------------------------------------------------------------------------------


def ticket_data(**overrides):
    return {
        "contact_id": "c1",
        "subject": "Parcel never arrived",
        "priority": "high",
        "department_id": "d1",
    } | overrides


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


def test_an_sla_policy_with_overlapping_hours_is_refused(service):
    hours = {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}

    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy(
            {"department_id": "d1", "targets": {"low": 1, "normal": 1, "high": 1, "urgent": 1}, "working_hours": hours}
        )

    assert refused.value.errors == {"working_hours": ["mon: intervals overlap at 12:00"]}
    assert service.list_sla_policies({})["items"] == []


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


def overdue(service, ticket_id):
    with Session(service.engine) as session:
        session.get(Ticket, ticket_id).sla_due_at = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()


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


def test_an_sla_policy_leaves_an_hour_a_week_and_targets_at_most_30000_working_minutes(service):
    targets = {"low": 30_001, "normal": 1, "high": 1, "urgent": 1}
    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy({"department_id": "d1", "targets": targets})
    assert list(refused.value.errors) == ["targets"]
    a_minute = {"mon": [["09:00", "09:01"]]}
    with pytest.raises(ValidationFailed) as refused:
        service.create_sla_policy({"department_id": "d1", "targets": targets | {"low": 1}, "working_hours": a_minute})
    assert list(refused.value.errors) == ["working_hours"]
    assert service.list_sla_policies({})["items"] == []


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
