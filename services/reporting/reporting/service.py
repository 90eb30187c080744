"""The reporting service: read models fed by events, and the reports managers steer by.

Entrypoints only: each parses its query, checks the filters against the caller's scope, calls a
function of `reporting.reports` or `reporting.plans` and renders the answer; the event consumers are
in `reporting.events`.
"""

from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from reporting import events, plans, reports
from reporting.models import OutboxEvent, ProcessedEvent
from reporting.render import rendered
from reporting.schemas import (
    CompareQuerySchema,
    PeriodQuerySchema,
    PlanQuerySchema,
    PlanSchema,
    PlanVsActualQuerySchema,
    ReportQuerySchema,
)


class ReportingService(ServiceBase):
    name = "reporting"
    outbox = Outbox(OutboxEvent)
    processed_events = ProcessedEvent  # events applied, for `crm_kernel.events.consumer`

    @rpc
    def kpis(self, query: dict) -> dict:
        """KPIs for a period in a time zone, in total and grouped by user, department, day, week or month."""
        params = self._report_query(ReportQuerySchema(), query)
        return rendered("kpis", reports.kpi_report(self.db, self.context.scope, params), params["format"])

    @rpc
    def sla(self, query: dict) -> dict:
        """Tickets opened and resolved, first response and resolution times, and SLA compliance."""
        params = self._report_query(ReportQuerySchema(), query)
        return rendered("sla", reports.sla(self.db, self.context.scope, params), params["format"])

    @rpc
    def funnel(self, query: dict) -> dict:
        """Conversion per pipeline stage and average time in stage of the deals created in the period."""
        params = self._report_query(PeriodQuerySchema(), query)
        return rendered("funnel", reports.funnel_report(self.db, self.context.scope, params), params["format"])

    @rpc
    def campaigns(self, query: dict) -> dict:
        """Campaign responses by kind and each kind's rate relative to the messages sent, per campaign."""
        params = self._report_query(PeriodQuerySchema(), query)
        return rendered("campaigns", reports.campaigns(self.db, self.context.scope, params), params["format"])

    @rpc
    def compare(self, query: dict) -> dict:
        """Two periods, or several departments or users, side by side with their differences."""
        params = self._report_query(CompareQuerySchema(), query)
        return rendered("compare", reports.compare(self.db, self.context.scope, params), params["format"])

    @rpc
    def create_plan(self, data: dict) -> dict:
        return plans.create(self.db, self.context.scope, load(PlanSchema(), data), outbox=self.outbox)

    @rpc
    def get_plan(self, plan_id: str) -> dict:
        return plans.get(self.db, self.context.scope, plan_id)

    @rpc
    def update_plan(self, plan_id: str, changes: dict, expected_version: int | None = None) -> dict:
        return plans.update(self.db, self.context.scope, plan_id, changes, expected_version, outbox=self.outbox)

    @rpc
    def delete_plan(self, plan_id: str, expected_version: int | None = None) -> None:
        plans.delete(self.db, self.context.scope, plan_id, expected_version, outbox=self.outbox)

    @rpc
    def list_plans(self, query: dict) -> dict:
        return plans.search(self.db, self.context.scope, load(PlanQuerySchema(), query))

    @rpc
    def plan_vs_actual(self, query: dict) -> dict:
        """Each plan of the period (narrowed to a department or user) with its actual and percentage."""
        params = load(PlanVsActualQuerySchema(), query)
        return rendered("plan-vs-actual", plans.plan_vs_actual(self.db, self.context.scope, params), params["format"])

    on_contact_created = events.on_contact_created
    on_interaction_created = events.on_interaction_created
    on_interaction_updated = events.on_interaction_updated
    on_interaction_deleted = events.on_interaction_deleted
    on_ticket_created = events.on_ticket_created
    on_ticket_updated = events.on_ticket_updated
    on_ticket_transitioned = events.on_ticket_transitioned
    on_ticket_commented = events.on_ticket_commented
    on_ticket_sla_breached = events.on_ticket_sla_breached
    on_deal_created = events.on_deal_created
    on_deal_updated = events.on_deal_updated
    on_deal_stage_changed = events.on_deal_stage_changed
    on_deal_deleted = events.on_deal_deleted
    on_task_created = events.on_task_created
    on_task_updated = events.on_task_updated
    on_task_completed = events.on_task_completed
    on_task_deleted = events.on_task_deleted
    on_campaign_response_recorded = events.on_campaign_response_recorded
    on_department_created = events.on_department_created
    on_department_updated = events.on_department_updated
    on_department_deleted = events.on_department_deleted
    on_user_created = events.on_user_created
    on_user_updated = events.on_user_updated
    on_user_deleted = events.on_user_deleted

    def _report_query(self, schema, query: dict) -> dict:
        """The report's parameters; a department or user filter outside the caller's scope is a 404."""
        params = load(schema, query)
        reports.check_filters(self.db, self.context.scope, params)
        return params
