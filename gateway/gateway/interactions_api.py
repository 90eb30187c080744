"""`/api/v1/interactions`: the gateway's routes to the interactions service."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import contract_value, crud
from gateway.routing import STAFF, V1, check_owner


class InteractionsApi:
    @api("POST", f"{V1}/interactions")
    def create_interaction(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("user_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        check_owner(self.db, caller, data, "user_id")
        interaction = self.interactions.create_interaction(data)
        return entity_response(interaction, 201, f"{V1}/interactions/{interaction['id']}")

    @api("GET", f"{V1}/interactions/<string:interaction_id>")
    def get_interaction(self, request, interaction_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_interaction(interaction_id))

    @api("PATCH", f"{V1}/interactions/<string:interaction_id>")
    def update_interaction(self, request, interaction_id):
        caller = self.auth.require(request, *STAFF)
        changes = json_body(request)
        check_owner(self.db, caller, changes, "user_id")
        return entity_response(self.interactions.update_interaction(interaction_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/interactions/<string:interaction_id>")
    def delete_interaction(self, request, interaction_id):
        self.auth.require(request, *STAFF)
        self.interactions.delete_interaction(interaction_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/interactions")
    def list_interactions(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_interactions(query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Interaction", "interactions", "InteractionSchema")
        query = spec.contract_schema("interactions", "InteractionQuerySchema")
        sorts = tuple(contract_value("interactions", "INTERACTION_SORTS"))
        crud(spec, f"{V1}/interactions", "Interaction", "interactions", query=query, sorts=sorts)
