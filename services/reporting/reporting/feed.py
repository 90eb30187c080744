"""The event feed: every event reporting consumes, applied once (by `event_id`) to the read models."""

from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.events import event_consumer
from crm_kernel.outbox import apply_once
from reporting.models import DealStage, Department, Fact, Freshness, ProcessedEvent, Snapshot, User
from reporting.projection import DELETING_EVENTS, KIND_OF_EVENT, facts_of, instant, source_of, sticky_extras

_newest_applied = {"occurred_at": None}
NEWEST_EVENT_AGE = Gauge(
    "crm_reporting_newest_event_age_seconds",
    "Age of the newest event reporting has applied: how far behind its reports may be when it grows.",
)
NEWEST_EVENT_AGE.set_function(
    lambda: (
        (datetime.now(UTC) - _newest_applied["occurred_at"]).total_seconds()
        if _newest_applied["occurred_at"]
        else float("nan")
    )
)


def apply_event(session: Session, event: dict) -> None:
    """Apply one event to the read models in `session` (the caller has checked it is new)."""
    kind = event["type"].split(".")[0]
    if kind == "department":
        _replicate_department(session, event)
    elif kind == "user":
        _replicate_user(session, event)
    elif event["type"] in KIND_OF_EVENT:
        _project(session, event)
    _note_freshness(session, event)


def _project(session: Session, event: dict) -> None:
    """Keep the entity's newest snapshot, then replace the facts derived from it."""
    source, entity, at = source_of(event), event["entity"], instant(event["occurred_at"])
    kind = KIND_OF_EVENT[event["type"]]
    if event["type"] in ("deal.created", "deal.stage_changed"):
        stage = event.get("to_stage") or entity["stage"]
        entered = at if event["type"] == "deal.stage_changed" else instant(entity.get("created_at")) or at
        session.add(DealStage(event_id=event["event_id"], deal_id=entity["id"], stage=stage, entered_at=entered))
    snapshot = session.get(Snapshot, source)
    extras = sticky_extras(event)
    if snapshot is None:
        snapshot = Snapshot(source=source, as_of=at, entity=entity | extras, deleted=event["type"] in DELETING_EVENTS)
        session.add(snapshot)
    elif at >= snapshot.as_of:
        kept = {key: snapshot.entity[key] for key in ("breached_at",) if key in snapshot.entity}
        snapshot.entity = entity | kept | extras
        snapshot.as_of = at
        snapshot.deleted = event["type"] in DELETING_EVENTS
    else:  # an older event, arriving late: only what it adds for good counts
        snapshot.entity = snapshot.entity | extras
    session.flush()
    session.execute(delete(Fact).where(Fact.source == source))
    if not snapshot.deleted:
        stages = []
        if kind == "deal":
            rows = session.execute(
                select(DealStage.stage, DealStage.entered_at).where(DealStage.deal_id == entity["id"])
            )
            stages = [tuple(row) for row in rows]
        session.add_all(Fact(**fact) for fact in facts_of(kind, snapshot.entity, stages))


def _replicate_department(session: Session, event: dict) -> None:
    entity = event["entity"]
    department = session.get(Department, entity["id"]) or Department(id=entity["id"])
    department.name = entity.get("name") or department.name or ""
    department.parent_id = entity.get("parent_id")
    department.timezone = entity.get("timezone") or "UTC"
    department.deleted = event["type"] == "department.deleted"
    session.add(department)


def _replicate_user(session: Session, event: dict) -> None:
    entity = event["entity"]
    user = session.get(User, entity["id"]) or User(id=entity["id"])
    user.name = entity.get("name") or ""
    user.department_id = entity.get("department_id")
    user.active = event["type"] != "user.deleted" and entity.get("active", True) is not False
    session.add(user)


def _note_freshness(session: Session, event: dict) -> None:
    occurred = instant(event["occurred_at"])
    row = session.get(Freshness, 1)
    if row is None:
        session.add(Freshness(id=1, event_occurred_at=occurred, applied_at=utcnow()))
    elif occurred >= row.event_occurred_at:
        row.event_occurred_at, row.applied_at = occurred, utcnow()


def fresh_as_of(session: Session) -> dict | None:
    """The newest event applied: when it occurred, and when reporting applied it."""
    row = session.get(Freshness, 1)
    if row is None:
        return None
    return {"event_occurred_at": row.event_occurred_at.isoformat(), "applied_at": row.applied_at.isoformat()}


def on(service: str, event_type: str):
    """A handler of `event_type` from `service` that applies it once."""

    # Redelivered until applied: a database outage delays the read model, it never loses an event.
    @event_consumer(service, event_type)
    def handle(self, event):
        self.apply(event)

    handle.__name__ = f"on_{event_type.replace('.', '_')}"
    return handle


class EventFeed:
    """The events reporting consumes (docs/events.md). Each is applied once, then committed."""

    on_contact_created = on("contacts", "contact.created")
    on_interaction_created = on("interactions", "interaction.created")
    on_interaction_updated = on("interactions", "interaction.updated")
    on_interaction_deleted = on("interactions", "interaction.deleted")
    on_ticket_created = on("interactions", "ticket.created")
    on_ticket_updated = on("interactions", "ticket.updated")
    on_ticket_transitioned = on("interactions", "ticket.transitioned")
    on_ticket_commented = on("interactions", "ticket.commented")
    on_ticket_sla_breached = on("interactions", "ticket.sla_breached")
    on_deal_created = on("interactions", "deal.created")
    on_deal_updated = on("interactions", "deal.updated")
    on_deal_stage_changed = on("interactions", "deal.stage_changed")
    on_deal_deleted = on("interactions", "deal.deleted")
    on_task_created = on("interactions", "task.created")
    on_task_updated = on("interactions", "task.updated")
    on_task_completed = on("interactions", "task.completed")
    on_task_deleted = on("interactions", "task.deleted")
    on_campaign_response_recorded = on("interactions", "campaign.response_recorded")
    on_department_created = on("gateway", "department.created")
    on_department_updated = on("gateway", "department.updated")
    on_department_deleted = on("gateway", "department.deleted")
    on_user_created = on("gateway", "user.created")
    on_user_updated = on("gateway", "user.updated")
    on_user_deleted = on("gateway", "user.deleted")

    def apply(self, event: dict) -> None:
        apply_once(self.db, ProcessedEvent, event, lambda event: apply_event(self.db, event), self.name)
        occurred = instant(event["occurred_at"])
        if _newest_applied["occurred_at"] is None or occurred > _newest_applied["occurred_at"]:
            _newest_applied["occurred_at"] = occurred
