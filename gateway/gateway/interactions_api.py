"""`/api/v1/interactions`: the gateway's routes to the interactions service."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.contacts_api import STAFF
from gateway.identity import V1, check_owner
from gateway.openapi import ERRORS, ID_PARAM, crud, json_content, ref
from interactions.schemas import INTERACTION_SORTS, InteractionQuerySchema, InteractionSchema


def action(spec, path: str, tag: str, summary: str, body: dict | None, response: dict, status: str = "200") -> None:
    """Describe one POST on an item (a transition, a comment, ...) in the OpenAPI document."""
    operation = {
        "tags": [tag],
        "summary": summary,
        "parameters": ID_PARAM,
        "responses": {status: {"description": summary, **json_content(response)}, **ERRORS},
    }
    if body is not None:
        operation["requestBody"] = json_content(body)
    spec.path(path=path, operations={"post": operation})


def read_only(spec, path: str, tag: str, summary: str, response: dict, parameters=ID_PARAM) -> None:
    operation = {"tags": [tag], "summary": summary, "parameters": parameters}
    operation["responses"] = {"200": {"description": summary, **json_content(response)}, **ERRORS}
    spec.path(path=path, operations={"get": operation})


class InteractionsApi:
    @api("POST", f"{V1}/interactions")
    def create_interaction(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        if isinstance(data.get("contact_id"), str):
            self.contact_must_exist(data["contact_id"])
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
        if isinstance(changes.get("contact_id"), str):
            self.contact_must_exist(changes["contact_id"])
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
        spec.components.schema("Interaction", schema=InteractionSchema)
        crud(
            spec,
            f"{V1}/interactions",
            "Interaction",
            "interactions",
            query=InteractionQuerySchema(),
            sorts=INTERACTION_SORTS,
        )


__all__ = ["InteractionsApi", "action", "read_only", "ref"]
