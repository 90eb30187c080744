"""`/api/v1/deals`: the sales pipeline, its transitions and the replayable history of each deal."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.contacts_api import STAFF
from gateway.identity import V1, check_owner
from gateway.interactions_api import action, read_only
from gateway.openapi import crud, ref
from interactions.sales_schemas import DEAL_SORTS, DealQuerySchema, DealSchema, DealTransitionSchema, StageChangeSchema


class DealsApi:
    @api("POST", f"{V1}/deals")
    def create_deal(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        if isinstance(data.get("contact_id"), str):
            self.contact_must_exist(data["contact_id"])
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        check_owner(self.db, caller, data, "owner_id")
        deal = self.interactions.create_deal(data, caller.user_id)
        return entity_response(deal, 201, f"{V1}/deals/{deal['id']}")

    @api("GET", f"{V1}/deals/<string:deal_id>")
    def get_deal(self, request, deal_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_deal(deal_id))

    @api("PATCH", f"{V1}/deals/<string:deal_id>")
    def update_deal(self, request, deal_id):
        caller = self.auth.require(request, *STAFF)
        changes = json_body(request)
        check_owner(self.db, caller, changes, "owner_id")
        if isinstance(changes.get("contact_id"), str):
            self.contact_must_exist(changes["contact_id"])
        return entity_response(self.interactions.update_deal(deal_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/deals/<string:deal_id>")
    def delete_deal(self, request, deal_id):
        self.auth.require(request, *STAFF)
        self.interactions.delete_deal(deal_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/deals")
    def list_deals(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_deals(query_args(request))

    @api("POST", f"{V1}/deals/<string:deal_id>/transitions")
    def transition_deal(self, request, deal_id):
        caller = self.auth.require(request, *STAFF)
        deal = self.interactions.transition_deal(deal_id, json_body(request), caller.user_id, expected_version(request))
        return entity_response(deal)

    @api("GET", f"{V1}/deals/<string:deal_id>/history")
    def deal_history(self, request, deal_id):
        self.auth.require(request, *STAFF)
        return self.interactions.deal_history(deal_id)

    @staticmethod
    def describe(spec):
        spec.components.schema("Deal", schema=DealSchema)
        spec.components.schema("DealTransition", schema=DealTransitionSchema)
        spec.components.schema("DealStageChange", schema=StageChangeSchema)
        crud(spec, f"{V1}/deals", "Deal", "deals", query=DealQuerySchema(), sorts=DEAL_SORTS)
        item = f"{V1}/deals/{{id}}"
        action(
            spec,
            f"{item}/transitions",
            "deals",
            "Move to another stage (lead -> qualified -> proposal -> negotiation -> won; lost from any open "
            "stage, with lost_reason; lost -> lead reopens; won is final); 409 names a move not allowed",
            ref("DealTransition"),
            ref("Deal"),
        )
        history = {
            "type": "object",
            "properties": {"deal": ref("Deal"), "items": {"type": "array", "items": ref("DealStageChange")}},
        }
        read_only(spec, f"{item}/history", "deals", "Every stage change, oldest first, with who and when", history)
