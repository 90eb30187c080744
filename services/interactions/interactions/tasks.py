"""Tasks: who does what by when, due times shown on the assignee's own clock, overdue lists."""

from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_kernel.db import utcnow
from crm_kernel.idempotency import idempotent
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from interactions.models import Task, UserReplica
from interactions.records import apply_changes, flush_or_stale
from interactions.sales_schemas import TASK_SORTS, OverdueQuerySchema, TaskQuerySchema, TaskSchema


def complete(task: Task, status: str, now) -> bool:
    """Apply a status; True when this change completes the task (it sets or clears `completed_at`)."""
    completes = status == "done" and task.completed_at is None
    task.completed_at = (task.completed_at or now) if status == "done" else None
    return completes


class TasksRpc:
    @rpc
    @idempotent
    def create_task(self, data: dict) -> dict:
        fields = load(TaskSchema(), data)
        self._check_placement(Task, fields)
        task = Task(**fields)
        completed = complete(task, task.status, utcnow())
        self.db.add(task)
        self.db.flush()
        dumped = self._dump_tasks([task])[0]
        self.outbox.add(self.db, "task.created", dumped)
        if completed:  # recorded after the fact: still a completed task for the reports
            self.outbox.add(self.db, "task.completed", dumped)
        return self.once.commit(self.db, dumped)

    @rpc
    def get_task(self, task_id: str) -> dict:
        return self._dump_tasks([self._load(Task, task_id)])[0]

    @rpc
    def update_task(self, task_id: str, changes: dict, expected_version: int | None = None) -> dict:
        task = self._load(Task, task_id, expected_version)
        fields = load(TaskSchema(), changes, partial=True)
        self._check_placement(Task, fields)
        changed = apply_changes(task, TaskSchema(), fields)
        if not changed:
            return self._dump_tasks([task])[0]
        completed = complete(task, task.status, utcnow())
        flush_or_stale(self.db, task)
        dumped = self._dump_tasks([task])[0]
        self.outbox.add(self.db, "task.updated", dumped, changes=changed)
        if completed:
            self.outbox.add(self.db, "task.completed", dumped)
        self.db.commit()
        return dumped

    @rpc
    def delete_task(self, task_id: str, expected_version: int | None = None) -> None:
        task = self._load(Task, task_id, expected_version)
        task.deleted_at = utcnow()
        flush_or_stale(self.db, task)
        self.outbox.add(self.db, "task.deleted", self._dump_tasks([task])[0])
        self.db.commit()

    @rpc
    def list_tasks(self, query: dict) -> dict:
        params = load(TaskQuerySchema(), query)
        stmt = self._scoped(select(Task).where(Task.deleted_at.is_(None)), Task)
        for name in ("assignee_id", "department_id", "contact_id", "status"):
            if params[name]:
                stmt = stmt.where(getattr(Task, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Task,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=TASK_SORTS,
        )
        return {"items": self._dump_tasks(rows), "next_cursor": next_cursor}

    @rpc
    def list_overdue_tasks(self, query: dict) -> dict:
        """Open tasks whose due time has passed, most overdue first, per assignee or department."""
        params = load(OverdueQuerySchema(), query)
        stmt = self._scoped(
            select(Task).where(Task.deleted_at.is_(None), Task.status == "open", Task.due_at < utcnow()), Task
        )
        for name in ("assignee_id", "department_id"):
            if params[name]:
                stmt = stmt.where(getattr(Task, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Task,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=("due_at",),
        )
        return {"items": self._dump_tasks(rows), "next_cursor": next_cursor}

    def _dump_tasks(self, tasks: list[Task]) -> list[dict]:
        """The tasks, each with `due_local` on its assignee's clock when the assignee's zone is known."""
        assignees = {task.assignee_id for task in tasks if task.assignee_id}
        zones = (
            dict(
                self.db.execute(select(UserReplica.id, UserReplica.timezone).where(UserReplica.id.in_(assignees))).all()
            )
            if assignees
            else {}
        )
        dumped = TaskSchema(many=True).dump(tasks)
        for task, item in zip(tasks, dumped, strict=True):
            zone = zones.get(task.assignee_id)
            item["due_local"] = task.due_at.astimezone(ZoneInfo(zone)).isoformat() if zone and task.due_at else None
        return dumped
