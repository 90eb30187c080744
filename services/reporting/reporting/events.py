"""The events reporting consumes (docs/events.md) and how they become its read models.

Every consumer is `crm_kernel.events.consumer(..., batch=True)`: a batch of events of one type,
those not applied before (by `event_id`), is applied by `apply` and committed in one transaction,
and the events' lag recorded; a batch the database refuses is tried event by event, so one bad
event holds back no other. Every consumer applies its batch the same way: what an event does
depends on its type, which `apply` reads.

`apply` keeps the replicas (departments, users) and the newest snapshot of each entity, replaces the
facts of every entity the batch changed (one DELETE that returns what they counted, one bulk INSERT),
keeps the KPI rollup equal to the facts (one upsert of the difference, `reporting.rollup`) and notes
the newest event.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_kernel.bulk import insert_rows, one_of
from crm_kernel.db import utcnow
from crm_kernel.events import consumer
from reporting import rollup
from reporting.models import DealStage, Department, Fact, Freshness, Snapshot, User
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

REPLACED_COLUMNS = (Fact.kpi, Fact.occurred_at, Fact.user_id, Fact.department_id, Fact.dimensions)

# One advisory lock per entity, taken in the order of their keys (no two batches wait on each other).
ENTITY_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT DISTINCT hashtext(s) AS k FROM unnest(CAST(:sources AS text[])) AS s ORDER BY k) AS ordered"
)


@dataclass(slots=True)
class NewSnapshot:
    """An entity's first snapshot, seen in this batch: inserted with the batch's others in one statement,
    so a plain object (an ORM instance each cost a quarter of a batch's time, cProfile)."""

    source: str
    as_of: datetime
    entity: dict
    deleted: bool


@consumer("contacts", "contact.created", batch=True)
def on_contact_created(service, events):
    apply(service.db, events)


@consumer("interactions", "interaction.created", batch=True)
def on_interaction_created(service, events):
    apply(service.db, events)


@consumer("interactions", "interaction.updated", batch=True)
def on_interaction_updated(service, events):
    apply(service.db, events)


@consumer("interactions", "interaction.deleted", batch=True)
def on_interaction_deleted(service, events):
    apply(service.db, events)


@consumer("interactions", "ticket.created", batch=True)
def on_ticket_created(service, events):
    apply(service.db, events)


@consumer("interactions", "ticket.updated", batch=True)
def on_ticket_updated(service, events):
    apply(service.db, events)


@consumer("interactions", "ticket.transitioned", batch=True)
def on_ticket_transitioned(service, events):
    apply(service.db, events)


@consumer("interactions", "ticket.commented", batch=True)
def on_ticket_commented(service, events):
    apply(service.db, events)


@consumer("interactions", "ticket.sla_breached", batch=True)
def on_ticket_sla_breached(service, events):
    apply(service.db, events)


@consumer("interactions", "deal.created", batch=True)
def on_deal_created(service, events):
    apply(service.db, events)


@consumer("interactions", "deal.updated", batch=True)
def on_deal_updated(service, events):
    apply(service.db, events)


@consumer("interactions", "deal.stage_changed", batch=True)
def on_deal_stage_changed(service, events):
    apply(service.db, events)


@consumer("interactions", "deal.deleted", batch=True)
def on_deal_deleted(service, events):
    apply(service.db, events)


@consumer("interactions", "task.created", batch=True)
def on_task_created(service, events):
    apply(service.db, events)


@consumer("interactions", "task.updated", batch=True)
def on_task_updated(service, events):
    apply(service.db, events)


@consumer("interactions", "task.completed", batch=True)
def on_task_completed(service, events):
    apply(service.db, events)


@consumer("interactions", "task.deleted", batch=True)
def on_task_deleted(service, events):
    apply(service.db, events)


@consumer("interactions", "campaign.response_recorded", batch=True)
def on_campaign_response_recorded(service, events):
    apply(service.db, events)


@consumer("gateway", "department.created", batch=True)
def on_department_created(service, events):
    apply(service.db, events)


@consumer("gateway", "department.updated", batch=True)
def on_department_updated(service, events):
    apply(service.db, events)


@consumer("gateway", "department.deleted", batch=True)
def on_department_deleted(service, events):
    apply(service.db, events)


@consumer("gateway", "user.created", batch=True)
def on_user_created(service, events):
    apply(service.db, events)


@consumer("gateway", "user.updated", batch=True)
def on_user_updated(service, events):
    apply(service.db, events)


@consumer("gateway", "user.deleted", batch=True)
def on_user_deleted(service, events):
    apply(service.db, events)


def apply(session: Session, events: list[dict]) -> None:
    """Apply `events` (new ones, in order) to the read models in `session`; the caller commits.

    Batches of different event types (queues) run in parallel workers and replicas; two of them that
    touch one entity (its `ticket.created` and its `ticket.updated`) would each read its snapshot before
    the other committed, and the later commit would drop the earlier's change. On PostgreSQL a batch
    therefore first takes a transaction-level advisory lock per entity it touches, in one order, so that
    only batches about the same entity wait for each other (SQLite's one connection serialises them all).
    """
    projected = [event for event in events if event["type"] in KIND_OF_EVENT]
    sources = sorted({source_of(event) for event in projected})
    if sources and session.get_bind().dialect.name == "postgresql":
        session.execute(ENTITY_LOCKS, {"sources": sources})
    snapshots = {}
    for chunk in _chunks(sources):
        found = session.scalars(select(Snapshot).where(one_of(session, Snapshot.source, chunk)))
        snapshots.update((row.source, row) for row in found)
    changed: dict[str, str] = {}
    for event in events:
        kind = event["type"].split(".")[0]
        if kind == "department":
            _replicate_department(session, event)
        elif kind == "user":
            _replicate_user(session, event)
        elif event["type"] in KIND_OF_EVENT:
            changed[source_of(event)] = KIND_OF_EVENT[event["type"]]
            _keep_snapshot(session, snapshots, event)
    created = [
        {"source": each.source, "as_of": each.as_of, "entity": each.entity, "deleted": each.deleted}
        for each in snapshots.values()
        if isinstance(each, NewSnapshot)
    ]
    insert_rows(session, Snapshot.__table__, created)
    session.flush()  # the snapshots that were there before, changed; deal stages
    _replace_facts(session, {source: snapshots[source] for source in changed}, changed)
    if events:
        newest = max(instant(event["occurred_at"]) for event in events)
        _note_freshness(session, newest)
        if _newest_applied["occurred_at"] is None or newest > _newest_applied["occurred_at"]:
            _newest_applied["occurred_at"] = newest


def fresh_as_of(session: Session) -> dict | None:
    """The newest event applied: when it occurred, and when reporting applied it."""
    row = session.get(Freshness, 1)
    if row is None:
        return None
    return {"event_occurred_at": row.event_occurred_at.isoformat(), "applied_at": row.applied_at.isoformat()}


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _keep_snapshot(session: Session, snapshots: dict, event: dict) -> None:
    """Keep the entity's newest snapshot (and a deal's stage timeline)."""
    source, entity, at = source_of(event), event["entity"], instant(event["occurred_at"])
    if event["type"] in ("deal.created", "deal.stage_changed"):
        stage = event.get("to_stage") or entity["stage"]
        entered = at if event["type"] == "deal.stage_changed" else instant(entity.get("created_at")) or at
        session.add(DealStage(event_id=event["event_id"], deal_id=entity["id"], stage=stage, entered_at=entered))
    snapshot = snapshots.get(source)
    extras = sticky_extras(event)
    if snapshot is None:
        # Inserted with the batch's others in one statement (`apply`), not by the session.
        snapshot = NewSnapshot(source, at, entity | extras, event["type"] in DELETING_EVENTS)
        snapshots[source] = snapshot
    elif at >= snapshot.as_of:
        kept = {key: snapshot.entity[key] for key in ("breached_at",) if key in snapshot.entity}
        snapshot.entity = entity | kept | extras
        snapshot.as_of = at
        snapshot.deleted = event["type"] in DELETING_EVENTS
    else:  # an older event, arriving late: only what it adds for good counts
        snapshot.entity = snapshot.entity | extras


def _replace_facts(session: Session, snapshots: dict, kinds: dict) -> None:
    """Replace the facts of each changed entity by those of its newest snapshot."""
    sources = sorted(snapshots)
    removed = []  # what the replaced facts counted, to subtract from the rollup
    for chunk in _chunks(sources):
        removed += session.execute(
            delete(Fact).where(one_of(session, Fact.source, chunk)).returning(*REPLACED_COLUMNS),
            execution_options={"synchronize_session": False},
        ).mappings()
    deal_ids = [snapshots[source].entity["id"] for source in sources if kinds[source] == "deal"]
    stages: dict = {}
    for chunk in _chunks(deal_ids):
        rows = session.execute(
            select(DealStage.deal_id, DealStage.stage, DealStage.entered_at).where(DealStage.deal_id.in_(chunk))
        )
        for deal_id, stage, entered_at in rows:
            stages.setdefault(deal_id, []).append((stage, entered_at))
    facts = [
        fact
        for source in sources
        if not snapshots[source].deleted
        for fact in facts_of(kinds[source], snapshots[source].entity, stages.get(snapshots[source].entity["id"], []))
    ]
    insert_rows(session, Fact.__table__, facts)
    rollup.record(session, removed, facts)


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


def _note_freshness(session: Session, occurred: datetime) -> None:
    """Keep the one freshness row at the newest event applied. One upsert: two replicas applying their
    first batches at once would both find no row and both insert one."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Freshness).values(id=1, event_occurred_at=occurred, applied_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=[Freshness.id],
        set_={"event_occurred_at": stmt.excluded.event_occurred_at, "applied_at": stmt.excluded.applied_at},
        where=Freshness.event_occurred_at <= stmt.excluded.event_occurred_at,
    )
    session.execute(stmt)
