"""Interactions: every contact between the company and a customer, on any channel.

Like every entity module here: plain functions over an explicit session, the caller's scope and the
clients they need; they change the session and record events, and the entrypoint commits (a create
commits itself: its row, its event and its idempotency record are one statement).
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel import records
from crm_kernel.db import statement_by_statement, utcnow
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.known_contacts import require_contact
from interactions.models import Interaction, OutboxEvent
from interactions.schemas import INTERACTION_SORTS, InteractionQuerySchema, InteractionSchema, assign

INTERACTION_SCHEMA = InteractionSchema()  # building a schema costs more than loading or dumping with it


def create(db: Session, scope: Scope, data: dict, *, events, contacts, once) -> dict:
    """Record an interaction once its contact is known to the caller; committed with its event (and the
    idempotency record) in one statement, outside a transaction on PostgreSQL."""
    fields = load(INTERACTION_SCHEMA, data)
    check_placement(db, scope, Interaction, fields)
    require_contact(contacts, fields["contact_id"])
    interaction = Interaction(**fields)
    interaction.refresh_search_text()
    row = records.new_row(interaction)
    dumped = INTERACTION_SCHEMA.dump(interaction)
    with statement_by_statement(db):  # after the call to contacts: no connection held while it runs
        return once.commit(
            db,
            dumped,
            inserts=[
                (Interaction.__table__, [row]),
                (OutboxEvent.__table__, events.event_rows("interaction.created", [dumped])),
            ],
        )


def get(db: Session, scope: Scope, interaction_id: str) -> dict:
    return InteractionSchema().dump(visible_or_404(db, Interaction, interaction_id, scope))


def update(
    db: Session, scope: Scope, interaction_id: str, changes: dict, expected_version, *, events, contacts
) -> dict:
    interaction = visible_or_404(db, Interaction, interaction_id, scope, expected_version)
    fields = load(InteractionSchema(), changes, partial=True)
    check_placement(db, scope, Interaction, fields)
    if "contact_id" in fields:
        require_contact(contacts, fields["contact_id"])
    changed = assign(interaction, InteractionSchema(), fields)
    if not changed:
        return InteractionSchema().dump(interaction)
    interaction.updated_at = utcnow()
    interaction.refresh_search_text()
    flush_or_stale(db, interaction)
    dumped = InteractionSchema().dump(interaction)
    events.add(db, "interaction.updated", dumped, changes=changed)
    return dumped


def delete(db: Session, scope: Scope, interaction_id: str, expected_version, *, events) -> None:
    """Soft delete: it leaves lists and reads; the record and its events stay."""
    interaction = visible_or_404(db, Interaction, interaction_id, scope, expected_version)
    interaction.deleted_at = utcnow()
    flush_or_stale(db, interaction)
    events.add(db, "interaction.deleted", InteractionSchema().dump(interaction))


def page(db: Session, scope: Scope, query: dict) -> dict:
    """A page of the interactions the caller may see, found by `q` in subject, body and requirements."""
    params = load(InteractionQuerySchema(), query)
    stmt = scoped(select(Interaction).where(Interaction.deleted_at.is_(None)), Interaction, scope)
    if params["q"]:
        stmt = stmt.where(Interaction.search_text.contains(params["q"].lower(), autoescape=True))
    for name in ("contact_id", "user_id", "channel"):
        if params[name]:
            stmt = stmt.where(getattr(Interaction, name) == params[name])
    rows, next_cursor = keyset_page(
        db,
        stmt,
        Interaction,
        limit=params["limit"],
        cursor=params["cursor"],
        sort=params["sort"],
        sortable=INTERACTION_SORTS,
    )
    return {"items": InteractionSchema(many=True).dump(rows), "next_cursor": next_cursor}
