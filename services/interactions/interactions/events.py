"""The events this service consumes: replicas of other services' data, and contact merges.

Departments and users come from the gateway (SLA clocks, escalation, task zones, placement checks),
documents from the documents service (the timeline). Every consumer is declared with
`crm_kernel.events.consumer`: applied once per `event_id` (in `processed_events`), committed, its lag
recorded, and redelivered until it succeeds. Each one changes the session through a plain function.
"""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_kernel.events import consumer
from interactions.models import (
    CampaignResponse,
    Deal,
    DepartmentReplica,
    DocumentReplica,
    Interaction,
    Task,
    Ticket,
    UserReplica,
)

# Every table whose rows point at a contact: a merge re-points them all.
CONTACT_RECORDS = (Interaction, Ticket, Deal, Task, CampaignResponse, DocumentReplica)


class EventConsumers:
    """The consumers of `InteractionsService`; each uses only the service's session, `self.db`."""

    @consumer("gateway", "department.created")
    def on_department_created(self, event):
        replicate_department(self.db, event["entity"])

    @consumer("gateway", "department.updated")
    def on_department_updated(self, event):
        replicate_department(self.db, event["entity"])

    @consumer("gateway", "department.deleted")
    def on_department_deleted(self, event):
        replicate_department(self.db, event["entity"], deleted=True)

    @consumer("gateway", "user.created")
    def on_user_created(self, event):
        replicate_user(self.db, event["entity"])

    @consumer("gateway", "user.updated")
    def on_user_updated(self, event):
        replicate_user(self.db, event["entity"])

    @consumer("gateway", "user.deleted")
    def on_user_deleted(self, event):
        replicate_user(self.db, event["entity"], deleted=True)

    @consumer("documents", "document.created")
    def on_document_created(self, event):
        replicate_document(self.db, event["entity"])

    @consumer("documents", "document.updated")
    def on_document_updated(self, event):
        replicate_document(self.db, event["entity"])

    @consumer("contacts", "contact.merged")
    def on_contact_merged(self, event):
        repoint_contacts(self.db, event["entity"]["id"], event.get("source_ids") or [])


def replicate_department(db: Session, entity: dict, deleted: bool = False) -> None:
    department = db.get(DepartmentReplica, entity["id"]) or DepartmentReplica(id=entity["id"])
    department.name = entity.get("name") or ""
    department.parent_id = entity.get("parent_id")
    department.timezone = entity.get("timezone") or "UTC"
    department.working_hours = entity.get("working_hours") or {}
    department.deleted = deleted
    db.add(department)


def replicate_user(db: Session, entity: dict, deleted: bool = False) -> None:
    user = db.get(UserReplica, entity["id"]) or UserReplica(id=entity["id"])
    user.email = entity.get("email") or ""
    user.role = entity.get("role") or "agent"
    user.department_id = entity.get("department_id")
    user.timezone = entity.get("timezone") or "UTC"
    user.active = bool(entity.get("active", True)) and not deleted
    db.add(user)


def replicate_document(db: Session, entity: dict) -> None:
    document = db.get(DocumentReplica, entity["id"]) or DocumentReplica(id=entity["id"])
    document.title = entity.get("title") or ""
    document.kind = entity.get("kind") or "other"
    document.status = entity.get("status") or "draft"
    document.contact_id = entity.get("contact_id")
    document.created_at = datetime.fromisoformat(entity["created_at"])
    document.uploaded_by = entity.get("uploaded_by")
    document.department_id = entity.get("uploaded_by_department_id")
    db.add(document)


def repoint_contacts(db: Session, target_id: str, source_ids: list[str]) -> int:
    """Make every record of the merged contacts point at the surviving one; returns how many moved."""
    sources = [source for source in source_ids if source != target_id]
    if not sources:
        return 0
    moved = 0
    for model in CONTACT_RECORDS:
        values = {"contact_id": target_id}
        if hasattr(model, "version"):  # the ETag of a re-pointed record changes with it
            values["version"] = model.version + 1
        moved += db.execute(
            update(model).where(model.contact_id.in_(sources)).values(**values),
            execution_options={"synchronize_session": False},
        ).rowcount
    return moved
