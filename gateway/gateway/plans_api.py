"""`/api/v1/plans`: targets per department or user and period, kept by the reporting service."""

from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.openapi import crud
from gateway.routing import READERS, V1

PLANNERS = ("admin", "manager")


class PlansApi:
    @api("POST", f"{V1}/plans")
    def create_plan(self, request):
        self.auth.require(request, *PLANNERS)
        plan = self.reporting.create_plan(json_body(request))
        return entity_response(plan, 201, f"{V1}/plans/{plan['id']}")

    @api("GET", f"{V1}/plans/<string:plan_id>")
    def get_plan(self, request, plan_id):
        self.auth.require(request, *READERS)
        return entity_response(self.reporting.get_plan(plan_id))

    @api("PATCH", f"{V1}/plans/<string:plan_id>")
    def update_plan(self, request, plan_id):
        self.auth.require(request, *PLANNERS)
        changes = json_body(request)
        return entity_response(self.reporting.update_plan(plan_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/plans/<string:plan_id>")
    def delete_plan(self, request, plan_id):
        self.auth.require(request, *PLANNERS)
        self.reporting.delete_plan(plan_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/plans")
    def list_plans(self, request):
        self.auth.require(request, *READERS)
        return self.reporting.list_plans(query_args(request))

    @staticmethod
    def describe(spec):
        spec.publish("Plan", "reporting", "PlanSchema")
        query = spec.contract_schema("reporting", "PlanQuerySchema")
        crud(
            spec,
            f"{V1}/plans",
            "Plan",
            "plans",
            query=query,
            sorts=("created_at", "period", "metric"),
            rules=("a change is checked merged with the stored plan, by the same rules as a new one",),
        )
