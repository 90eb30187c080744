"""Deals through the pipeline, every stage change kept so that a negotiation can be replayed."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.errors import ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.known_contacts import require_contact
from interactions.models import Deal, DealStageChange
from interactions.schemas import (
    DEAL_SORTS,
    DealQuerySchema,
    DealSchema,
    DealTransitionSchema,
    StageChangeSchema,
    assign,
)
from interactions.workflow import transition_deal


def create(db: Session, scope: Scope, data: dict, actor_id: str | None, *, events, contacts) -> dict:
    fields = load(DealSchema(), data)
    check_placement(db, scope, Deal, fields)
    require_contact(contacts, fields["contact_id"])
    deal = Deal(**fields, created_at=utcnow())
    db.add(deal)
    db.flush()
    db.add(
        DealStageChange(
            deal_id=deal.id, from_stage=None, to_stage=deal.stage, changed_by=actor_id, changed_at=deal.created_at
        )
    )
    dumped = DealSchema().dump(deal)
    events.add(db, "deal.created", dumped)
    return dumped


def get(db: Session, scope: Scope, deal_id: str) -> dict:
    return DealSchema().dump(visible_or_404(db, Deal, deal_id, scope))


def update(db: Session, scope: Scope, deal_id: str, changes: dict, expected_version, *, events, contacts) -> dict:
    """Change the fields sent; the stage moves only through `transition`, which keeps the history."""
    deal = visible_or_404(db, Deal, deal_id, scope, expected_version)
    fields = load(DealSchema(), changes, partial=True)
    check_placement(db, scope, Deal, fields)
    if "stage" in changes:
        raise ValidationFailed(
            "change the stage with POST /deals/{id}/transitions", {"stage": ["use the transitions route"]}
        )
    if "contact_id" in fields:
        require_contact(contacts, fields["contact_id"])
    changed = assign(deal, DealSchema(), fields)
    if not changed:
        return DealSchema().dump(deal)
    deal.updated_at = utcnow()
    flush_or_stale(db, deal)
    dumped = DealSchema().dump(deal)
    events.add(db, "deal.updated", dumped, changes=changed)
    return dumped


def delete(db: Session, scope: Scope, deal_id: str, expected_version, *, events) -> None:
    deal = visible_or_404(db, Deal, deal_id, scope, expected_version)
    deal.deleted_at = utcnow()
    flush_or_stale(db, deal)
    events.add(db, "deal.deleted", DealSchema().dump(deal))


def page(db: Session, scope: Scope, query: dict) -> dict:
    params = load(DealQuerySchema(), query)
    stmt = scoped(select(Deal).where(Deal.deleted_at.is_(None)), Deal, scope)
    for name in ("contact_id", "owner_id", "department_id", "stage"):
        if params[name]:
            stmt = stmt.where(getattr(Deal, name) == params[name])
    rows, next_cursor = keyset_page(
        db, stmt, Deal, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=DEAL_SORTS
    )
    return {"items": DealSchema(many=True).dump(rows), "next_cursor": next_cursor}


def transition(
    db: Session, scope: Scope, deal_id: str, data: dict, actor_id: str | None, expected_version, *, events
) -> dict:
    """Move the deal to another stage (a lost deal needs `lost_reason`) and keep the step in its history."""
    move = load(DealTransitionSchema(), data)
    deal = visible_or_404(db, Deal, deal_id, scope, expected_version)
    from_stage = transition_deal(deal, move["stage"], move["lost_reason"])
    now = utcnow()
    deal.updated_at = now
    db.add(
        DealStageChange(
            deal_id=deal.id,
            from_stage=from_stage,
            to_stage=deal.stage,
            changed_by=actor_id,
            changed_at=now,
            note=move["lost_reason"] if deal.stage == "lost" else move["note"],
        )
    )
    flush_or_stale(db, deal)
    dumped = DealSchema().dump(deal)
    events.add(db, "deal.stage_changed", dumped, from_stage=from_stage, to_stage=deal.stage)
    return dumped


def history(db: Session, scope: Scope, deal_id: str) -> dict:
    """Every stage the deal went through, oldest first, with who moved it and when."""
    deal = visible_or_404(db, Deal, deal_id, scope)
    rows = db.scalars(
        select(DealStageChange)
        .where(DealStageChange.deal_id == deal.id)
        .order_by(DealStageChange.changed_at, DealStageChange.id)
    ).all()
    return {"deal": DealSchema().dump(deal), "items": StageChangeSchema(many=True).dump(rows)}
