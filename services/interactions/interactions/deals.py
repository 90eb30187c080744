"""Deals through the pipeline, every stage change kept so that a negotiation can be replayed."""

from sqlalchemy import select

from crm_kernel.db import utcnow
from crm_kernel.errors import ValidationFailed
from crm_kernel.idempotency import idempotent
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from interactions.models import Deal, DealStageChange
from interactions.records import apply_changes, flush_or_stale
from interactions.sales_schemas import DEAL_SORTS, DealQuerySchema, DealSchema, DealTransitionSchema, StageChangeSchema
from interactions.workflow import transition_deal


class DealsRpc:
    @rpc
    @idempotent
    def create_deal(self, data: dict, actor_id: str | None = None) -> dict:
        fields = load(DealSchema(), data)
        self._check_placement(Deal, fields)
        deal = Deal(**fields, created_at=utcnow())
        self.db.add(deal)
        self.db.flush()
        self.db.add(
            DealStageChange(
                deal_id=deal.id, from_stage=None, to_stage=deal.stage, changed_by=actor_id, changed_at=deal.created_at
            )
        )
        dumped = DealSchema().dump(deal)
        self.outbox.add(self.db, "deal.created", dumped)
        return self.once.commit(self.db, dumped)

    @rpc
    def get_deal(self, deal_id: str) -> dict:
        return DealSchema().dump(self._load(Deal, deal_id))

    @rpc
    def update_deal(self, deal_id: str, changes: dict, expected_version: int | None = None) -> dict:
        deal = self._load(Deal, deal_id, expected_version)
        # The stage moves only through transitions, which keep the history.
        fields = load(DealSchema(), changes, partial=True)
        self._check_placement(Deal, fields)
        if "stage" in changes:
            raise ValidationFailed(
                "change the stage with POST /deals/{id}/transitions", {"stage": ["use the transitions route"]}
            )
        changed = apply_changes(deal, DealSchema(), fields)
        if not changed:
            return DealSchema().dump(deal)
        flush_or_stale(self.db, deal)
        dumped = DealSchema().dump(deal)
        self.outbox.add(self.db, "deal.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_deal(self, deal_id: str, expected_version: int | None = None) -> None:
        deal = self._load(Deal, deal_id, expected_version)
        deal.deleted_at = utcnow()
        flush_or_stale(self.db, deal)
        self.outbox.add(self.db, "deal.deleted", DealSchema().dump(deal))
        self.db.commit()

    @rpc
    def list_deals(self, query: dict) -> dict:
        params = load(DealQuerySchema(), query)
        stmt = self._scoped(select(Deal).where(Deal.deleted_at.is_(None)), Deal)
        for name in ("contact_id", "owner_id", "department_id", "stage"):
            if params[name]:
                stmt = stmt.where(getattr(Deal, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Deal,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=DEAL_SORTS,
        )
        return {"items": DealSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def transition_deal(
        self, deal_id: str, data: dict, actor_id: str | None = None, expected_version: int | None = None
    ) -> dict:
        move = load(DealTransitionSchema(), data)
        deal = self._load(Deal, deal_id, expected_version)
        from_stage = transition_deal(deal, move["stage"], move["lost_reason"])
        now = utcnow()
        deal.updated_at = now
        self.db.add(
            DealStageChange(
                deal_id=deal.id,
                from_stage=from_stage,
                to_stage=deal.stage,
                changed_by=actor_id,
                changed_at=now,
                note=move["lost_reason"] if deal.stage == "lost" else move["note"],
            )
        )
        flush_or_stale(self.db, deal)
        dumped = DealSchema().dump(deal)
        self.outbox.add(self.db, "deal.stage_changed", dumped, from_stage=from_stage, to_stage=deal.stage)
        self.db.commit()
        return dumped

    @rpc
    def deal_history(self, deal_id: str) -> dict:
        """Every stage the deal went through, oldest first, with who moved it and when."""
        deal = self._load(Deal, deal_id)
        rows = self.db.scalars(
            select(DealStageChange)
            .where(DealStageChange.deal_id == deal.id)
            .order_by(DealStageChange.changed_at, DealStageChange.id)
        ).all()
        return {"deal": DealSchema().dump(deal), "items": StageChangeSchema(many=True).dump(rows)}
