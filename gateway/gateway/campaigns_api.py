"""`/api/v1/campaigns`: offers to contacts who agreed to marketing, and how they responded."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import ID_PARAM, PAGE_PARAMS, RECORDS, action, contract_value, crud, read_only, ref
from gateway.routing import STAFF, V1, check_owner


class CampaignsApi:
    @api("POST", f"{V1}/campaigns")
    def create_campaign(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        check_owner(self.db, caller, data, "owner_id")
        campaign = self.interactions.create_campaign(data)
        return entity_response(campaign, 201, f"{V1}/campaigns/{campaign['id']}")

    @api("GET", f"{V1}/campaigns/<string:campaign_id>")
    def get_campaign(self, request, campaign_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.interactions.get_campaign(campaign_id))

    @api("PATCH", f"{V1}/campaigns/<string:campaign_id>")
    def update_campaign(self, request, campaign_id):
        caller = self.auth.require(request, *STAFF)
        changes = json_body(request)
        check_owner(self.db, caller, changes, "owner_id")
        return entity_response(self.interactions.update_campaign(campaign_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/campaigns/<string:campaign_id>")
    def delete_campaign(self, request, campaign_id):
        self.auth.require(request, *STAFF)
        self.interactions.delete_campaign(campaign_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/campaigns")
    def list_campaigns(self, request):
        self.auth.require(request, *STAFF)
        return self.interactions.list_campaigns(query_args(request))

    @api("POST", f"{V1}/campaigns/<string:campaign_id>/responses")
    def record_campaign_response(self, request, campaign_id):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("user_id", caller.user_id)
        check_owner(self.db, caller, data, "user_id")  # a response is recorded by a user the caller may see
        return 201, self.interactions.record_campaign_response(campaign_id, data)

    @api("GET", f"{V1}/campaigns/<string:campaign_id>/responses")
    def list_campaign_responses(self, request, campaign_id):
        self.auth.require(request, *STAFF)
        return self.interactions.list_campaign_responses(campaign_id, query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Campaign", "interactions", "CampaignSchema")
        spec.publish("CampaignResponse", "interactions", "ResponseSchema")
        query = spec.contract_schema("interactions", "CampaignQuerySchema")
        sorts = tuple(contract_value("interactions", "CAMPAIGN_SORTS"))
        crud(spec, f"{V1}/campaigns", "Campaign", "campaigns", query=query, sorts=sorts)
        item = f"{V1}/campaigns/{{id}}/responses"
        kinds = contract_value("interactions", "RESPONSE_KINDS")
        action(
            spec,
            item,
            "campaigns",
            "Record a response; `sent` only to a contact with marketing consent (else 422 naming contact_id)",
            ref("CampaignResponse"),
            ref("CampaignResponse"),
            "201",
            rules=(RECORDS, "kind sent only to a contact with marketing consent"),
        )
        page = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": ref("CampaignResponse")},
                "next_cursor": {"type": "string", "nullable": True},
                "counts": {"type": "object", "properties": {kind: {"type": "integer"} for kind in kinds}},
            },
        }
        kind = {"name": "kind", "in": "query", "schema": {"type": "string", "enum": kinds}}
        read_only(
            spec,
            item,
            "campaigns",
            "The responses, newest first, with counts per kind",
            page,
            ID_PARAM + PAGE_PARAMS[:2] + [kind],
        )
