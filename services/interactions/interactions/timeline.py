"""A contact's timeline: interactions, tickets, deals, tasks and documents, newest first.

One keyset over a unified ordering `(occurred_at, kind, id)`, descending, so that pages neither
skip nor repeat while records are added: each kind contributes its rows after the cursor, the
database merges them (UNION ALL) and cuts the page.
"""

import base64
import json
from datetime import datetime

from sqlalchemy import literal, or_, select, union_all
from sqlalchemy.orm import Session

from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import scoped
from interactions.models import Deal, DocumentReplica, Interaction, Task, Ticket
from interactions.schemas import DealSchema, InteractionSchema, TaskSchema, TicketSchema, TimelineQuerySchema

# kind -> (model, the column that places it in time)
SOURCES = {
    "deal": (Deal, Deal.created_at),
    "document": (DocumentReplica, DocumentReplica.created_at),
    "interaction": (Interaction, Interaction.occurred_at),
    "task": (Task, Task.created_at),
    "ticket": (Ticket, Ticket.created_at),
}


def encode_timeline_cursor(occurred_at: datetime, kind: str, item_id: str) -> str:
    raw = json.dumps([occurred_at.isoformat(), kind, item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_timeline_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        occurred_at, kind, item_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(occurred_at)
        if moment.tzinfo is None or kind not in SOURCES:
            raise ValueError(cursor)
        return moment, kind, str(item_id)
    except (ValueError, TypeError):
        raise ValidationFailed("the cursor is not one this API returned", {"cursor": ["invalid cursor"]}) from None


def _after_cursor(kind: str, column, model, cursor: tuple):
    """Rows of `kind` that come after the cursor in (occurred_at, kind, id) descending order."""
    at, last_kind, last_id = cursor
    if kind < last_kind:
        return column <= at
    if kind > last_kind:
        return column < at
    return or_(column < at, (column == at) & (model.id < last_id))


def contact_timeline(db: Session, scope: Scope, contact_id: str, query: dict) -> dict:
    """A page of the contact's records the caller may see, newest first; each kind is restricted
    before the kinds are merged, so pages stay full."""
    params = load(TimelineQuerySchema(), query)
    cursor = decode_timeline_cursor(params["cursor"]) if params["cursor"] else None
    branches = []
    for kind, (model, column) in SOURCES.items():
        branch = select(literal(kind).label("kind"), model.id.label("id"), column.label("occurred_at")).where(
            model.contact_id == contact_id
        )
        branch = scoped(branch, model, scope)
        if hasattr(model, "deleted_at"):
            branch = branch.where(model.deleted_at.is_(None))
        if cursor:
            branch = branch.where(_after_cursor(kind, column, model, cursor))
        branches.append(branch)
    merged = union_all(*branches).subquery()
    rows = db.execute(
        select(merged.c.kind, merged.c.id, merged.c.occurred_at)
        .order_by(merged.c.occurred_at.desc(), merged.c.kind.desc(), merged.c.id.desc())
        .limit(params["limit"] + 1)
    ).all()
    page = rows[: params["limit"]]
    entities = _entities(db, page)
    items = [
        {"kind": row.kind, "id": row.id, "occurred_at": at.isoformat(), "entity": entity}
        for row in page
        for at, entity in [entities[(row.kind, row.id)]]
    ]
    next_cursor = None
    if len(rows) > params["limit"]:
        last = page[-1]
        next_cursor = encode_timeline_cursor(entities[(last.kind, last.id)][0], last.kind, last.id)
    return {"items": items, "next_cursor": next_cursor}


def _entities(db: Session, rows) -> dict:
    """(kind, id) -> (the moment that places it, its wire form), for the rows of a page."""
    wanted: dict[str, list[str]] = {}
    for row in rows:
        wanted.setdefault(row.kind, []).append(row.id)
    found = {}
    for kind, ids in wanted.items():
        model, column = SOURCES[kind]
        for entity in db.scalars(select(model).where(model.id.in_(ids))).all():
            found[(kind, entity.id)] = (getattr(entity, column.key), _dump(kind, entity))
    return found


def _dump(kind: str, entity) -> dict:
    schema = {"interaction": InteractionSchema, "ticket": TicketSchema, "deal": DealSchema, "task": TaskSchema}.get(
        kind
    )
    if schema is not None:
        return schema().dump(entity)
    return {
        "id": entity.id,
        "title": entity.title,
        "kind": entity.kind,
        "status": entity.status,
        "contact_id": entity.contact_id,
        "created_at": entity.created_at.isoformat(),
    }
