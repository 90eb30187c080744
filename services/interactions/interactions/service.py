"""The interactions service: the history of every request between customers and the company.

This class holds the interactions themselves; tickets, deals, tasks, campaigns, the timeline and the
replicas of other services' data are mixins, one module per idea.
"""

from sqlalchemy import select

from crm_kernel.db import utcnow
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from interactions.access import ScopedRecords
from interactions.campaigns import CampaignsRpc
from interactions.deals import DealsRpc
from interactions.models import IdempotentWrite, Interaction, OutboxEvent
from interactions.records import apply_changes, flush_or_stale
from interactions.replicas import Replicas
from interactions.schemas import INTERACTION_SORTS, InteractionQuerySchema, InteractionSchema
from interactions.tasks import TasksRpc
from interactions.tickets import TicketsRpc
from interactions.timeline import TimelineRpc


class InteractionsService(
    TicketsRpc, DealsRpc, TasksRpc, CampaignsRpc, TimelineRpc, Replicas, ScopedRecords, ServiceBase
):
    name = "interactions"
    outbox = Outbox(OutboxEvent)
    once = Idempotency(IdempotentWrite)

    @rpc
    @idempotent
    def create_interaction(self, data: dict) -> dict:
        fields = load(InteractionSchema(), data)
        self._check_placement(Interaction, fields)
        interaction = Interaction(**fields)
        interaction.refresh_search_text()
        self.db.add(interaction)
        self.db.flush()
        dumped = InteractionSchema().dump(interaction)
        self.outbox.add(self.db, "interaction.created", dumped)
        return self.once.commit(self.db, dumped)

    @rpc
    def get_interaction(self, interaction_id: str) -> dict:
        return InteractionSchema().dump(self._load(Interaction, interaction_id))

    @rpc
    def update_interaction(self, interaction_id: str, changes: dict, expected_version: int | None = None) -> dict:
        interaction = self._load(Interaction, interaction_id, expected_version)
        fields = load(InteractionSchema(), changes, partial=True)
        self._check_placement(Interaction, fields)
        changed = apply_changes(interaction, InteractionSchema(), fields)
        if not changed:
            return InteractionSchema().dump(interaction)
        interaction.refresh_search_text()
        flush_or_stale(self.db, interaction)
        dumped = InteractionSchema().dump(interaction)
        self.outbox.add(self.db, "interaction.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_interaction(self, interaction_id: str, expected_version: int | None = None) -> None:
        """Soft delete: it leaves lists and reads; the record and its events stay."""
        interaction = self._load(Interaction, interaction_id, expected_version)
        interaction.deleted_at = utcnow()
        flush_or_stale(self.db, interaction)
        self.outbox.add(self.db, "interaction.deleted", InteractionSchema().dump(interaction))
        self.db.commit()

    @rpc
    def list_interactions(self, query: dict) -> dict:
        params = load(InteractionQuerySchema(), query)
        stmt = self._scoped(select(Interaction).where(Interaction.deleted_at.is_(None)), Interaction)
        if params["q"]:
            stmt = stmt.where(Interaction.search_text.contains(params["q"].lower(), autoescape=True))
        for name in ("contact_id", "user_id", "channel"):
            if params[name]:
                stmt = stmt.where(getattr(Interaction, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Interaction,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=INTERACTION_SORTS,
        )
        return {"items": InteractionSchema(many=True).dump(rows), "next_cursor": next_cursor}
