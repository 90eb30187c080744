"""What this service keeps of other services' data, from their events, and contact merges.

Departments and users come from the gateway (SLA clocks, escalation, task zones), documents from
the documents service (the timeline). Each handler is idempotent by `event_id` and is redelivered
until it succeeds.
"""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_kernel.events import event_consumer
from crm_kernel.outbox import apply_once
from interactions.models import (
    CampaignResponse,
    Deal,
    DepartmentReplica,
    DocumentReplica,
    Interaction,
    ProcessedEvent,
    Task,
    Ticket,
    UserReplica,
)

# Every table whose rows point at a contact: a merge re-points them all.
CONTACT_RECORDS = (Interaction, Ticket, Deal, Task, CampaignResponse, DocumentReplica)


def on(service: str, event_type: str):
    return event_consumer(service, event_type)


def department_manager(session: Session, department_id: str | None) -> str | None:
    """Who a breached ticket escalates to: an active manager of its department, else of the nearest
    department above it; the one with the smallest e-mail when several. None when nobody manages
    the branch."""
    seen = set()
    while department_id is not None and department_id not in seen:
        seen.add(department_id)
        manager = session.scalar(
            select(UserReplica.id)
            .where(UserReplica.department_id == department_id, UserReplica.role == "manager", UserReplica.active)
            .order_by(UserReplica.email, UserReplica.id)
            .limit(1)
        )
        if manager is not None:
            return manager
        department = session.get(DepartmentReplica, department_id)
        department_id = department.parent_id if department is not None else None
    return None


def repoint_contacts(session: Session, target_id: str, source_ids: list[str]) -> int:
    """Make every record of the merged contacts point at the surviving one; returns how many moved."""
    sources = [source for source in source_ids if source != target_id]
    if not sources:
        return 0
    moved = 0
    for model in CONTACT_RECORDS:
        values = {"contact_id": target_id}
        if hasattr(model, "version"):  # the ETag of a re-pointed record changes with it
            values["version"] = model.version + 1
        moved += session.execute(
            update(model).where(model.contact_id.in_(sources)).values(**values),
            execution_options={"synchronize_session": False},
        ).rowcount
    return moved


class Replicas:
    @on("gateway", "department.created")
    def on_department_created(self, event):
        self._apply(event, self._replicate_department)

    @on("gateway", "department.updated")
    def on_department_updated(self, event):
        self._apply(event, self._replicate_department)

    @on("gateway", "department.deleted")
    def on_department_deleted(self, event):
        self._apply(event, self._replicate_department, deleted=True)

    @on("gateway", "user.created")
    def on_user_created(self, event):
        self._apply(event, self._replicate_user)

    @on("gateway", "user.updated")
    def on_user_updated(self, event):
        self._apply(event, self._replicate_user)

    @on("gateway", "user.deleted")
    def on_user_deleted(self, event):
        self._apply(event, self._replicate_user, deleted=True)

    @on("documents", "document.created")
    def on_document_created(self, event):
        self._apply(event, self._replicate_document)

    @on("documents", "document.updated")
    def on_document_updated(self, event):
        self._apply(event, self._replicate_document)

    @on("contacts", "contact.merged")
    def on_contact_merged(self, event):
        self._apply(event, lambda entity: repoint_contacts(self.db, entity["id"], event.get("source_ids") or []))

    def _apply(self, event: dict, change, **kwargs) -> None:
        apply_once(self.db, ProcessedEvent, event, lambda event: change(event["entity"], **kwargs), self.name)

    def _replicate_department(self, entity: dict, deleted: bool = False) -> None:
        department = self.db.get(DepartmentReplica, entity["id"]) or DepartmentReplica(id=entity["id"])
        department.name = entity.get("name") or ""
        department.parent_id = entity.get("parent_id")
        department.timezone = entity.get("timezone") or "UTC"
        department.working_hours = entity.get("working_hours") or {}
        department.deleted = deleted
        self.db.add(department)

    def _replicate_user(self, entity: dict, deleted: bool = False) -> None:
        user = self.db.get(UserReplica, entity["id"]) or UserReplica(id=entity["id"])
        user.email = entity.get("email") or ""
        user.role = entity.get("role") or "agent"
        user.department_id = entity.get("department_id")
        user.timezone = entity.get("timezone") or "UTC"
        user.active = bool(entity.get("active", True)) and not deleted
        self.db.add(user)

    def _replicate_document(self, entity: dict) -> None:
        document = self.db.get(DocumentReplica, entity["id"]) or DocumentReplica(id=entity["id"])
        document.title = entity.get("title") or ""
        document.kind = entity.get("kind") or "other"
        document.status = entity.get("status") or "draft"
        document.contact_id = entity.get("contact_id")
        document.created_at = datetime.fromisoformat(entity["created_at"])
        document.uploaded_by = entity.get("uploaded_by")
        document.department_id = entity.get("uploaded_by_department_id")
        self.db.add(document)
