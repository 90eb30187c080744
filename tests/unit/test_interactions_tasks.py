"""Tasks through the service's methods: due times in UTC and on the assignee's clock, overdue lists."""

from datetime import UTC, datetime, timedelta

import pytest
from interactions_world import (
    events,
)

from crm_kernel.errors import ValidationFailed
from crm_kernel.outbox import make_event
from interactions import tasks
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


def test_a_due_time_without_a_zone_is_refused(service):
    with pytest.raises(ValidationFailed) as refused:
        service.create_task({"title": "Call back", "due_at": "2026-03-10T15:00:00"})

    assert "without a zone" in refused.value.errors["due_at"][0]


def test_a_task_is_due_in_utc_and_on_its_assignees_clock(service):
    entity = {"id": "u1", "email": "a@example.com", "role": "agent", "department_id": "d1", "timezone": "Asia/Tokyo"}
    service.on_user_created(make_event("user.created", entity, {}))

    task = service.create_task({"title": "Call back", "due_at": "2026-03-10T15:00:00+01:00", "assignee_id": "u1"})

    assert task["due_at"] == "2026-03-10T14:00:00+00:00"
    assert task["due_local"] == "2026-03-10T23:00:00+09:00"
    assert (
        service.create_task({"title": "x", "due_at": "2026-03-10T15:00:00Z", "assignee_id": "nobody"})["due_local"]
        is None
    )


def test_overdue_tasks_are_listed_per_assignee_and_department(service, clock):
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    clock(now, tasks)
    past, future = (now - timedelta(hours=2)).isoformat(), (now + timedelta(hours=2)).isoformat()
    late = service.create_task({"title": "late", "due_at": past, "assignee_id": "u1", "department_id": "d1"})
    service.create_task({"title": "on time", "due_at": future, "assignee_id": "u1", "department_id": "d1"})
    done = service.create_task({"title": "done", "due_at": past, "assignee_id": "u1", "department_id": "d1"})
    service.update_task(done["id"], {"status": "done"})
    service.create_task({"title": "someone else's", "due_at": past, "assignee_id": "u2", "department_id": "d2"})

    assert [t["id"] for t in service.list_overdue_tasks({"assignee_id": "u1"})["items"]] == [late["id"]]
    assert [t["id"] for t in service.list_overdue_tasks({"department_id": "d1"})["items"]] == [late["id"]]
    completed = events(service, "task.completed")
    assert [e["entity"]["id"] for e in completed] == [done["id"]]
    assert completed[0]["entity"]["completed_at"] == now.isoformat()
