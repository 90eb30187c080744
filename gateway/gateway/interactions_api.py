"""`/api/v1/interactions`: the gateway's routes to the interactions service."""

from crm_kernel.http import api, entity_response, json_body, query_args
from gateway.contacts_api import STAFF
from gateway.identity import V1
from gateway.openapi import crud
from interactions.schemas import InteractionSchema


class InteractionsApi:
    @api("POST", f"{V1}/interactions")
    def create_interaction(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        if isinstance(data.get("contact_id"), str):
            self.contact_must_exist(data["contact_id"])
        data.setdefault("user_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        interaction = self.interactions.create_interaction(data)
        return entity_response(interaction, 201, f"{V1}/interactions/{interaction['id']}")

    @api("GET", f"{V1}/interactions/<string:interaction_id>")
    def get_interaction(self, request, interaction_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_interaction(interaction_id))

    @api("GET", f"{V1}/interactions")
    def list_interactions(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_interactions(query_args(request))

    @staticmethod
    def describe(spec):
        spec.components.schema("Interaction", schema=InteractionSchema)
        filters = ("contact_id", "user_id", "channel")
        crud(spec, f"{V1}/interactions", "Interaction", "interactions", update=False, delete=False, filters=filters)
