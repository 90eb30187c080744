"""`/api/v1/deals`: the sales pipeline, its transitions and the replayable history of each deal."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import action, contract_value, crud, read_only, ref
from gateway.routing import STAFF, V1, check_owner


class DealsApi:
    @api("POST", f"{V1}/deals")
    def create_deal(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
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
        spec.publish("Deal", "interactions", "DealSchema")
        spec.publish("DealTransition", "interactions", "DealTransitionSchema")
        spec.publish("DealStageChange", "interactions", "StageChangeSchema")
        query = spec.contract_schema("interactions", "DealQuerySchema")
        sorts = tuple(contract_value("interactions", "DEAL_SORTS"))
        crud(
            spec,
            f"{V1}/deals",
            "Deal",
            "deals",
            query=query,
            sorts=sorts,
            rules=("stage is given on create only (an open stage); later it moves by POST /deals/{id}/transitions",),
        )
        item = f"{V1}/deals/{{id}}"
        action(
            spec,
            f"{item}/transitions",
            "deals",
            "Move to another stage (lead -> qualified -> proposal -> negotiation -> won; lost from any open "
            "stage, with lost_reason; lost -> lead reopens; won is final); 409 names a move not allowed",
            ref("DealTransition"),
            ref("Deal"),
            rules=("the move is allowed from the deal's stage (409 otherwise)", "lost needs a lost_reason"),
        )
        history = {
            "type": "object",
            "properties": {"deal": ref("Deal"), "items": {"type": "array", "items": ref("DealStageChange")}},
        }
        read_only(spec, f"{item}/history", "deals", "Every stage change, oldest first, with who and when", history)
