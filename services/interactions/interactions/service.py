"""The interactions service: the history of every contact between customers and the company."""

from sqlalchemy import select

from crm_kernel.errors import NotFound
from crm_kernel.outbox import Outbox
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from interactions.models import Interaction, OutboxEvent
from interactions.schemas import INTERACTION_SORTS, InteractionQuerySchema, InteractionSchema


class InteractionsService(ServiceBase):
    name = "interactions"
    outbox = Outbox(OutboxEvent)

    @rpc
    def create_interaction(self, data: dict) -> dict:
        interaction = Interaction(**load(InteractionSchema(), data))
        self.db.add(interaction)
        self.db.flush()
        dumped = InteractionSchema().dump(interaction)
        self.outbox.add(self.db, "interaction.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_interaction(self, interaction_id: str) -> dict:
        interaction = self.db.get(Interaction, interaction_id)
        if interaction is None:
            raise NotFound(f"interaction {interaction_id} not found")
        return InteractionSchema().dump(interaction)

    @rpc
    def list_interactions(self, query: dict) -> dict:
        params = load(InteractionQuerySchema(), query)
        stmt = select(Interaction)
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
