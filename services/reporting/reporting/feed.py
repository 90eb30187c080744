"""The event feed: every event reporting consumes, applied once (by `event_id`) to the read models.

Events come in batches (`crm_kernel.batches`): a batch is applied in one transaction, with one query
for the events seen before, one for the snapshots it touches and one DELETE and one INSERT for the
facts of the entities it changed, and acknowledged after the commit.
"""

from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from crm_kernel import metrics
from crm_kernel.batches import batch_handler
from crm_kernel.bulk import insert_rows
from crm_kernel.db import utcnow
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
    apply_new_events(session, [event])


# One advisory lock per entity, taken in the order of their keys (no two batches wait on each other).
ENTITY_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT DISTINCT hashtext(s) AS k FROM unnest(CAST(:sources AS text[])) AS s ORDER BY k) AS ordered"
)


def apply_events(session: Session, events: list[dict]) -> list[dict]:
    """Apply, in order, those of `events` not applied before (by `event_id`, also within the batch),
    recording them as applied in `session`; the caller commits. Returns the events applied.

    Batches of different event types (queues) run in parallel workers and replicas; two of them that
    touch one entity (its `ticket.created` and its `ticket.updated`) would each read its snapshot before
    the other committed, and the later commit would drop the earlier's change. On PostgreSQL a batch
    therefore takes a transaction-level advisory lock per entity it touches, in one order, so that only
    batches about the same entity wait for each other (SQLite's one connection serialises them all).
    """
    sources = sorted({source_of(event) for event in events if event.get("type") in KIND_OF_EVENT})
    if sources and session.get_bind().dialect.name == "postgresql":
        session.execute(ENTITY_LOCKS, {"sources": sources})
    seen: set = set()
    ids = [event["event_id"] for event in events]
    for chunk in _chunks(ids):
        seen.update(session.scalars(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(chunk))))
    new = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            new.append(event)
    if new:
        now = utcnow()
        rows = [{"event_id": e["event_id"], "type": e["type"], "processed_at": now} for e in new]
        _insert_rows(session, ProcessedEvent, rows)
        apply_new_events(session, new)
    return new


def apply_new_events(session: Session, events: list[dict]) -> None:
    """Apply `events` (new ones, in order): replicas and snapshots one by one, then the facts of every
    entity they changed replaced at once (one DELETE, one INSERT), and the freshness once."""
    projected = [event for event in events if event["type"] in KIND_OF_EVENT]
    sources = {source_of(event) for event in projected}
    snapshots = {}
    for chunk in _chunks(sorted(sources)):
        snapshots.update(
            (row.source, row) for row in session.scalars(select(Snapshot).where(Snapshot.source.in_(chunk)))
        )
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
    created = [snapshot for snapshot in snapshots.values() if snapshot not in session]
    columns = ("source", "as_of", "entity", "deleted")
    _insert_rows(session, Snapshot, [{name: getattr(each, name) for name in columns} for each in created])
    session.flush()  # the snapshots that were there before, changed; deal stages
    _replace_facts(session, {source: snapshots[source] for source in changed}, changed)
    if events:
        _note_freshness(session, max(events, key=lambda event: instant(event["occurred_at"])))


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert_rows(session: Session, model, rows: list[dict]) -> None:
    # COPY on PostgreSQL: through pg8000 an executemany is a round trip per row, and a multi-row
    # VALUES costs more to compile and encode than the rows themselves.
    insert_rows(session, model.__table__, rows)


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
        # Inserted with the batch's others in one statement (see `_insert_rows`), not by the session.
        snapshot = Snapshot(source=source, as_of=at, entity=entity | extras, deleted=event["type"] in DELETING_EVENTS)
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
    for chunk in _chunks(sources):
        session.execute(delete(Fact).where(Fact.source.in_(chunk)), execution_options={"synchronize_session": False})
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
    _insert_rows(session, Fact, facts)


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
    """A handler of `event_type` from `service` that applies each batch of its events once."""

    # Redelivered until applied: a database outage delays the read model, it never loses an event.
    @batch_handler(service, event_type)
    def handle(self, events):
        self.apply_batch(events)

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
        self.apply_batch([event])

    def apply_batch(self, events: list[dict]) -> None:
        """Apply the new ones of `events` in one transaction. Should that fail, each is applied in a
        transaction of its own, so one event the database refuses holds back no other; the batch is
        then requeued whole (those applied are dropped by `event_id` when they come back)."""
        try:
            applied = apply_events(self.db, events)
            self.db.commit()
        except Exception:
            self.db.rollback()
            if len(events) == 1:
                raise
            failed = None
            for event in events:
                try:
                    self.apply_batch([event])
                except Exception as error:  # noqa: BLE001 - raised again below, after the others
                    failed = error
            if failed is not None:
                raise failed from None
            return
        for event in applied:
            metrics.observe_event_lag(self.name, event)
            occurred = instant(event["occurred_at"])
            if _newest_applied["occurred_at"] is None or occurred > _newest_applied["occurred_at"]:
                _newest_applied["occurred_at"] = occurred
