"""Tasks: who does what by when, due times shown on the assignee's own clock, overdue lists."""

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.known_contacts import require_contact
from interactions.models import Task, UserReplica
from interactions.schemas import TASK_SORTS, OverdueQuerySchema, TaskQuerySchema, TaskSchema, assign


def complete(task: Task, status: str, now) -> bool:
    """Apply a status; True when this change completes the task (it sets or clears `completed_at`)."""
    completes = status == "done" and task.completed_at is None
    task.completed_at = (task.completed_at or now) if status == "done" else None
    return completes


def create(db: Session, scope: Scope, data: dict, *, events, contacts) -> dict:
    fields = load(TaskSchema(), data)
    check_placement(db, scope, Task, fields)
    if fields["contact_id"]:
        require_contact(contacts, fields["contact_id"])
    task = Task(**fields)
    completed = complete(task, task.status, utcnow())
    db.add(task)
    db.flush()
    dumped = dump(db, [task])[0]
    events.add(db, "task.created", dumped)
    if completed:  # recorded after the fact: still a completed task for the reports
        events.add(db, "task.completed", dumped)
    return dumped


def get(db: Session, scope: Scope, task_id: str) -> dict:
    return dump(db, [visible_or_404(db, Task, task_id, scope)])[0]


def update(db: Session, scope: Scope, task_id: str, changes: dict, expected_version, *, events, contacts) -> dict:
    task = visible_or_404(db, Task, task_id, scope, expected_version)
    fields = load(TaskSchema(), changes, partial=True)
    check_placement(db, scope, Task, fields)
    if fields.get("contact_id"):
        require_contact(contacts, fields["contact_id"])
    changed = assign(task, TaskSchema(), fields)
    if not changed:
        return dump(db, [task])[0]
    task.updated_at = utcnow()
    completed = complete(task, task.status, utcnow())
    flush_or_stale(db, task)
    dumped = dump(db, [task])[0]
    events.add(db, "task.updated", dumped, changes=changed)
    if completed:
        events.add(db, "task.completed", dumped)
    return dumped


def delete(db: Session, scope: Scope, task_id: str, expected_version, *, events) -> None:
    task = visible_or_404(db, Task, task_id, scope, expected_version)
    task.deleted_at = utcnow()
    flush_or_stale(db, task)
    events.add(db, "task.deleted", dump(db, [task])[0])


def page(db: Session, scope: Scope, query: dict) -> dict:
    params = load(TaskQuerySchema(), query)
    stmt = scoped(select(Task).where(Task.deleted_at.is_(None)), Task, scope)
    for name in ("assignee_id", "department_id", "contact_id", "status"):
        if params[name]:
            stmt = stmt.where(getattr(Task, name) == params[name])
    rows, next_cursor = keyset_page(
        db, stmt, Task, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=TASK_SORTS
    )
    return {"items": dump(db, rows), "next_cursor": next_cursor}


def overdue_page(db: Session, scope: Scope, query: dict) -> dict:
    """Open tasks whose due time has passed, most overdue first, per assignee or department."""
    params = load(OverdueQuerySchema(), query)
    stmt = select(Task).where(Task.deleted_at.is_(None), Task.status == "open", Task.due_at < utcnow())
    stmt = scoped(stmt, Task, scope)
    for name in ("assignee_id", "department_id"):
        if params[name]:
            stmt = stmt.where(getattr(Task, name) == params[name])
    rows, next_cursor = keyset_page(
        db, stmt, Task, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=("due_at",)
    )
    return {"items": dump(db, rows), "next_cursor": next_cursor}


def dump(db: Session, tasks: list[Task]) -> list[dict]:
    """The tasks, each with `due_local` on its assignee's clock when the assignee's zone is known."""
    assignees = {task.assignee_id for task in tasks if task.assignee_id}
    zones = {}
    if assignees:
        zones = dict(
            db.execute(select(UserReplica.id, UserReplica.timezone).where(UserReplica.id.in_(assignees))).all()
        )
    dumped = TaskSchema(many=True).dump(tasks)
    for task, item in zip(tasks, dumped, strict=True):
        zone = zones.get(task.assignee_id)
        item["due_local"] = task.due_at.astimezone(ZoneInfo(zone)).isoformat() if zone and task.due_at else None
    return dumped
