"""Campaigns: an offer sent to contacts who agreed to marketing, and how they responded."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.errors import ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.known_contacts import require_contact
from interactions.models import Campaign, CampaignResponse
from interactions.schemas import (
    CAMPAIGN_SORTS,
    RESPONSE_KINDS,
    CampaignQuerySchema,
    CampaignSchema,
    ResponseQuerySchema,
    ResponseSchema,
    assign,
)


def check_consent(kind: str, contact_id: str, marketing_consent: bool) -> None:
    """An offer is sent only to a contact who agreed to marketing."""
    if kind == "sent" and not marketing_consent:
        raise ValidationFailed(
            f"contact {contact_id} has not agreed to marketing; the offer cannot be sent",
            {"contact_id": ["no marketing consent"]},
        )


def create(db: Session, scope: Scope, data: dict, *, events) -> dict:
    fields = load(CampaignSchema(), data)
    check_placement(db, scope, Campaign, fields)
    campaign = Campaign(**fields)
    db.add(campaign)
    db.flush()
    dumped = CampaignSchema().dump(campaign)
    events.add(db, "campaign.created", dumped)
    return dumped


def get(db: Session, scope: Scope, campaign_id: str) -> dict:
    return CampaignSchema().dump(visible_or_404(db, Campaign, campaign_id, scope))


def update(db: Session, scope: Scope, campaign_id: str, changes: dict, expected_version, *, events) -> dict:
    campaign = visible_or_404(db, Campaign, campaign_id, scope, expected_version)
    fields = load(CampaignSchema(), changes, partial=True)
    check_placement(db, scope, Campaign, fields)
    changed = assign(campaign, CampaignSchema(), fields)
    if not changed:
        return CampaignSchema().dump(campaign)
    campaign.updated_at = utcnow()
    flush_or_stale(db, campaign)
    dumped = CampaignSchema().dump(campaign)
    events.add(db, "campaign.updated", dumped, changes=changed)
    return dumped


def delete(db: Session, scope: Scope, campaign_id: str, expected_version, *, events) -> None:
    campaign = visible_or_404(db, Campaign, campaign_id, scope, expected_version)
    campaign.deleted_at = utcnow()
    flush_or_stale(db, campaign)
    events.add(db, "campaign.deleted", CampaignSchema().dump(campaign))


def page(db: Session, scope: Scope, query: dict) -> dict:
    params = load(CampaignQuerySchema(), query)
    stmt = scoped(select(Campaign).where(Campaign.deleted_at.is_(None)), Campaign, scope)
    if params["department_id"]:
        stmt = stmt.where(Campaign.department_id == params["department_id"])
    rows, next_cursor = keyset_page(
        db, stmt, Campaign, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=CAMPAIGN_SORTS
    )
    return {"items": CampaignSchema(many=True).dump(rows), "next_cursor": next_cursor}


def record_response(db: Session, scope: Scope, campaign_id: str, data: dict, *, events, contacts) -> dict:
    """Record a contact's response to a campaign the caller may see; the contact must exist for the
    caller, and an offer `sent` needs its marketing consent."""
    campaign = visible_or_404(db, Campaign, campaign_id, scope)
    fields = load(ResponseSchema(), data)
    fields["occurred_at"] = fields["occurred_at"] or utcnow()
    fields["department_id"] = fields["department_id"] or campaign.department_id
    check_placement(db, scope, CampaignResponse, fields)
    contact = require_contact(contacts, fields["contact_id"])
    check_consent(fields["kind"], fields["contact_id"], bool(contact.get("marketing_consent")))
    response = CampaignResponse(campaign_id=campaign.id, **fields)
    db.add(response)
    db.flush()
    dumped = ResponseSchema().dump(response)
    events.add(db, "campaign.response_recorded", dumped)
    return dumped


def responses_page(db: Session, scope: Scope, campaign_id: str, query: dict) -> dict:
    """The responses, newest first, and how many of each kind the whole campaign has."""
    campaign = visible_or_404(db, Campaign, campaign_id, scope)
    params = load(ResponseQuerySchema(), query)
    stmt = select(CampaignResponse).where(CampaignResponse.campaign_id == campaign.id)
    if params["kind"]:
        stmt = stmt.where(CampaignResponse.kind == params["kind"])
    rows, next_cursor = keyset_page(
        db,
        stmt,
        CampaignResponse,
        limit=params["limit"],
        cursor=params["cursor"],
        sort="-occurred_at",
        sortable=("occurred_at",),
    )
    counted = db.execute(
        select(CampaignResponse.kind, func.count())
        .where(CampaignResponse.campaign_id == campaign.id)
        .group_by(CampaignResponse.kind)
    ).all()
    counts = dict.fromkeys(RESPONSE_KINDS, 0) | dict(counted)
    return {"items": ResponseSchema(many=True).dump(rows), "next_cursor": next_cursor, "counts": counts}
