"""The reporting service: read models fed by events, and the reports managers steer by."""

from collections import Counter

from sqlalchemy import func, select

from crm_kernel.db import utcnow
from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from reporting.access import check_filters, effective_department, visible_facts, visible_tree
from reporting.aggregates import report_kpis
from reporting.feed import EventFeed, fresh_as_of
from reporting.kpis import FACT_OF, KPIS, DepartmentTree, funnel, period_bounds, response_rates
from reporting.models import DealStage, Department, Fact, OutboxEvent, Snapshot, User
from reporting.plans import PlansRpc
from reporting.render import rendered
from reporting.reports import comparison, kpi_report
from reporting.schemas import CompareQuerySchema, PeriodQuerySchema, ReportQuerySchema

SLA_KPIS = ("tickets_opened", "tickets_resolved", "first_response_time", "resolution_time", "sla_compliance")


class ReportingService(EventFeed, PlansRpc, ServiceBase):
    name = "reporting"
    outbox = Outbox(OutboxEvent)

    @rpc
    def kpis(self, query: dict) -> dict:
        """KPIs for a period in a time zone, in total and grouped by user, department, day, week or month."""
        params = self._load_query(ReportQuerySchema(), query)
        return rendered("kpis", self._kpi_report(params), params["format"])

    @rpc
    def sla(self, query: dict) -> dict:
        """Tickets opened and resolved, first response and resolution times, and SLA compliance."""
        params = self._load_query(ReportQuerySchema(), query)
        params["kpi"] = [name for name in params["kpi"] or SLA_KPIS if name in SLA_KPIS] or list(SLA_KPIS)
        return rendered("sla", self._kpi_report(params), params["format"])

    @rpc
    def funnel(self, query: dict) -> dict:
        """Conversion per pipeline stage and average time in stage of the deals created in the period."""
        params = self._load_query(PeriodQuerySchema(), query)
        created = self._facts(params, ("deals_created",))
        deal_ids = [fact["source"].removeprefix("deal:") for fact in created]
        timelines = {deal_id: [] for deal_id in deal_ids}
        amounts = {}
        for batch in range(0, len(deal_ids), 500):
            ids = deal_ids[batch : batch + 500]
            rows = self.db.execute(
                select(DealStage.deal_id, DealStage.stage, DealStage.entered_at).where(DealStage.deal_id.in_(ids))
            )
            for deal_id, stage, entered_at in rows:
                timelines[deal_id].append((stage, entered_at))
            # each deal's amount as it is now (its newest snapshot), so a deal re-priced later counts so
            snapshots = self.db.execute(
                select(Snapshot.source, Snapshot.entity).where(Snapshot.source.in_([f"deal:{i}" for i in ids]))
            )
            for source, entity in snapshots:
                amounts[source.removeprefix("deal:")] = (entity.get("amount"), entity.get("currency"))
        report = self._frame(params) | funnel(timelines, amounts)
        return rendered("funnel", report | {"fresh_as_of": fresh_as_of(self.db)}, params["format"])

    @rpc
    def campaigns(self, query: dict) -> dict:
        """Campaign responses by kind and each kind's rate relative to the messages sent, per campaign."""
        params = self._load_query(PeriodQuerySchema(), query)
        responses = self._fact_query(params, ("campaign_responses",)).subquery("responses")
        campaign, kind = responses.c.dimensions["campaign_id"].as_string(), responses.c.dimensions["kind"].as_string()
        named = select(campaign.label("campaign_id"), kind.label("kind")).subquery("named")
        total, by_campaign = Counter(), {}
        # Counted in the database by campaign and kind; grouped by name (see reporting.aggregates).
        for campaign_id, kind_of, count in self.db.execute(
            select(named.c.campaign_id, named.c.kind, func.count()).group_by(named.c.campaign_id, named.c.kind)
        ):
            total[kind_of] += count
            by_campaign.setdefault(campaign_id, Counter())[kind_of] += count
        report = self._frame(params) | {
            "total": response_rates(total),
            "campaigns": [
                {"campaign_id": campaign_id, **response_rates(by_campaign[campaign_id])}
                for campaign_id in sorted(by_campaign, key=str)
            ],
            "fresh_as_of": fresh_as_of(self.db),
        }
        return rendered("campaigns", report, params["format"])

    @rpc
    def compare(self, query: dict) -> dict:
        """Two periods, or several departments or users, side by side with their differences."""
        params = self._load_query(CompareQuerySchema(), query)
        sides = []
        if params["compare_from"] is not None:
            for start, end in ((params["from_"], params["to"]), (params["compare_from"], params["compare_to"])):
                sides.append({"from_": start, "to": end, "label": f"{start.isoformat()} – {end.isoformat()}"})
            department_id, user_id = (params["department_id"] or [None])[0], (params["user_id"] or [None])[0]
            sides = [side | {"department_id": department_id, "user_id": user_id} for side in sides]
        else:
            names = self._names()
            for field in ("department_id", "user_id"):
                for key in params[field] or ():
                    other = "user_id" if field == "department_id" else "department_id"
                    sides.append({"from_": params["from_"], "to": params["to"], field: key, other: None})
                    sides[-1]["label"] = names.get(key) or key
        values = []
        for side in sides:
            side_params = {**params, **side, "group_by": None}
            values.append(self._kpi_report(side_params)["kpis"])
        columns = [
            {
                "label": side["label"],
                "from": side["from_"].isoformat(),
                "to": side["to"].isoformat(),
                "department_id": side["department_id"],
                "user_id": side["user_id"],
            }
            for side in sides
        ]
        report = {"tz": params["tz"], **comparison(columns, values), "fresh_as_of": fresh_as_of(self.db)}
        return rendered("compare", report, params["format"])

    def _kpi_report(self, params: dict) -> dict:
        kpis = tuple(params.get("kpi") or KPIS)
        tree, now = self._tree(), utcnow()
        facts = self._fact_query(params, tuple({FACT_OF[name] for name in kpis}), tree)
        totals, grouped = report_kpis(self.db, facts, params.get("group_by"), params, tree, kpis, now)
        report = kpi_report(totals, grouped, params | {"kpi": kpis}, tree, self._names(), now)
        return report | {"fresh_as_of": fresh_as_of(self.db)}

    def _frame(self, params: dict) -> dict:
        return {"from": params["from_"].isoformat(), "to": params["to"].isoformat(), "tz": params["tz"]}

    def _load_query(self, schema, query: dict) -> dict:
        """The report's parameters; a department or user filter outside the caller's scope is a 404."""
        params = load(schema, query)
        check_filters(self.db, self.context.scope, params)
        return params

    def _fact_query(self, params: dict, fact_kpis: tuple, tree: DepartmentTree | None = None):
        """The facts of `fact_kpis` in the period that the caller may see, narrowed to the department (with
        those below it) and user of `params`: kpi, occurred_at, user_id, department_id (the user's when
        the fact has none), dimensions, source."""
        opens, closes = period_bounds(params["from_"], params["to"], params["tz"])
        department = effective_department()
        stmt = (
            select(
                Fact.kpi,
                Fact.occurred_at,
                Fact.user_id,
                department.label("department_id"),
                Fact.dimensions,
                Fact.source,
            )
            .outerjoin(User, User.id == Fact.user_id)
            .where(Fact.kpi.in_(fact_kpis), Fact.occurred_at >= opens, Fact.occurred_at < closes)
        )
        stmt = visible_facts(stmt, self.context.scope)
        if params.get("department_id"):
            stmt = stmt.where(department.in_((tree or self._tree()).subtree(params["department_id"])))
        if params.get("user_id"):
            stmt = stmt.where(Fact.user_id == params["user_id"])
        return stmt

    def _facts(self, params: dict, fact_kpis: tuple, tree: DepartmentTree | None = None) -> list[dict]:
        """The rows of `_fact_query` as dicts."""
        return [row._asdict() for row in self.db.execute(self._fact_query(params, fact_kpis, tree))]

    def _tree(self) -> DepartmentTree:
        """The department tree as far as the caller sees it."""
        rows = self.db.execute(select(Department.id, Department.parent_id).where(Department.deleted.is_(False)))
        return visible_tree(DepartmentTree(dict(rows.all())), self.context.scope)

    def _names(self) -> dict:
        departments = self.db.execute(select(Department.id, Department.name)).all()
        users = self.db.execute(select(User.id, User.name)).all()
        return {key: name for key, name in [*departments, *users] if name}
