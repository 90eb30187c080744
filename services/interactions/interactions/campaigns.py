"""Campaigns: an offer sent to contacts who agreed to marketing, and how they responded."""

from sqlalchemy import func, select

from crm_kernel.db import utcnow
from crm_kernel.errors import ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from interactions.models import Campaign, CampaignResponse
from interactions.records import apply_changes, flush_or_stale
from interactions.sales_schemas import (
    CAMPAIGN_SORTS,
    RESPONSE_KINDS,
    CampaignQuerySchema,
    CampaignSchema,
    ResponseQuerySchema,
    ResponseSchema,
)


def check_consent(kind: str, contact_id: str, marketing_consent: bool) -> None:
    """An offer is sent only to a contact who agreed to marketing."""
    if kind == "sent" and not marketing_consent:
        raise ValidationFailed(
            f"contact {contact_id} has not agreed to marketing; the offer cannot be sent",
            {"contact_id": ["no marketing consent"]},
        )


class CampaignsRpc:
    @rpc
    def create_campaign(self, data: dict) -> dict:
        fields = load(CampaignSchema(), data)
        self._check_placement(Campaign, fields)
        campaign = Campaign(**fields)
        self.db.add(campaign)
        self.db.flush()
        dumped = CampaignSchema().dump(campaign)
        self.outbox.add(self.db, "campaign.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_campaign(self, campaign_id: str) -> dict:
        return CampaignSchema().dump(self._load(Campaign, campaign_id))

    @rpc
    def update_campaign(self, campaign_id: str, changes: dict, expected_version: int | None = None) -> dict:
        campaign = self._load(Campaign, campaign_id, expected_version)
        fields = load(CampaignSchema(), changes, partial=True)
        self._check_placement(Campaign, fields)
        changed = apply_changes(campaign, CampaignSchema(), fields)
        if not changed:
            return CampaignSchema().dump(campaign)
        flush_or_stale(self.db, campaign)
        dumped = CampaignSchema().dump(campaign)
        self.outbox.add(self.db, "campaign.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_campaign(self, campaign_id: str, expected_version: int | None = None) -> None:
        campaign = self._load(Campaign, campaign_id, expected_version)
        campaign.deleted_at = utcnow()
        flush_or_stale(self.db, campaign)
        self.outbox.add(self.db, "campaign.deleted", CampaignSchema().dump(campaign))
        self.db.commit()

    @rpc
    def list_campaigns(self, query: dict) -> dict:
        params = load(CampaignQuerySchema(), query)
        stmt = self._scoped(select(Campaign).where(Campaign.deleted_at.is_(None)), Campaign)
        if params["department_id"]:
            stmt = stmt.where(Campaign.department_id == params["department_id"])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Campaign,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=CAMPAIGN_SORTS,
        )
        return {"items": CampaignSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def record_campaign_response(self, campaign_id: str, data: dict, marketing_consent: bool = False) -> dict:
        """Record a contact's response; `marketing_consent` is the contact's, as the caller read it."""
        campaign = self._load(Campaign, campaign_id)
        fields = load(ResponseSchema(), data)
        check_consent(fields["kind"], fields["contact_id"], marketing_consent)
        fields["occurred_at"] = fields["occurred_at"] or utcnow()
        fields["department_id"] = fields["department_id"] or campaign.department_id
        self._check_placement(CampaignResponse, fields)
        response = CampaignResponse(campaign_id=campaign.id, **fields)
        self.db.add(response)
        self.db.flush()
        dumped = ResponseSchema().dump(response)
        self.outbox.add(self.db, "campaign.response_recorded", dumped)
        self.db.commit()
        return dumped

    @rpc
    def list_campaign_responses(self, campaign_id: str, query: dict) -> dict:
        """The responses, newest first, and how many of each kind the whole campaign has."""
        campaign = self._load(Campaign, campaign_id)
        params = load(ResponseQuerySchema(), query)
        stmt = select(CampaignResponse).where(CampaignResponse.campaign_id == campaign.id)
        if params["kind"]:
            stmt = stmt.where(CampaignResponse.kind == params["kind"])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            CampaignResponse,
            limit=params["limit"],
            cursor=params["cursor"],
            sort="-occurred_at",
            sortable=("occurred_at",),
        )
        counted = self.db.execute(
            select(CampaignResponse.kind, func.count())
            .where(CampaignResponse.campaign_id == campaign.id)
            .group_by(CampaignResponse.kind)
        ).all()
        counts = dict.fromkeys(RESPONSE_KINDS, 0) | dict(counted)
        return {"items": ResponseSchema(many=True).dump(rows), "next_cursor": next_cursor, "counts": counts}
