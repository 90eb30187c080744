"""Plans: targets per department or user and period, and how far the actual figures reached them."""

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from crm_kernel.db import utcnow
from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from reporting.access import check_filters, check_plan_placement, visible_plans
from reporting.feed import fresh_as_of
from reporting.models import Plan
from reporting.periods import period_dates
from reporting.render import rendered
from reporting.reports import plan_actual
from reporting.schemas import PlanQuerySchema, PlanSchema, PlanVsActualQuerySchema, check_plan_target


def _check_target(plan: dict) -> None:
    errors = check_plan_target(plan)
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)


class PlansRpc:
    """`/plans` CRUD (each change a `plan.*` event) and `/reports/plan-vs-actual`."""

    @rpc
    def create_plan(self, data: dict) -> dict:
        fields = load(PlanSchema(), data)
        _check_target(fields)
        check_plan_placement(self.db, self.context.scope, fields)
        plan = Plan(**fields)
        self.db.add(plan)
        self.db.flush()
        dumped = PlanSchema().dump(plan)
        self.outbox.add(self.db, "plan.created", dumped)
        self.db.commit()
        return dumped

    @rpc
    def get_plan(self, plan_id: str) -> dict:
        return PlanSchema().dump(self._load_plan(plan_id))

    @rpc
    def update_plan(self, plan_id: str, changes: dict, expected_version: int | None = None) -> dict:
        plan = self._load_plan(plan_id, expected_version)
        fields = load(PlanSchema(), changes, partial=True)
        before = PlanSchema().dump(plan)
        _check_target({**before, "value": plan.value, **fields})
        check_plan_placement(self.db, self.context.scope, fields)
        for name, value in fields.items():
            setattr(plan, name, value)
        after = PlanSchema().dump(plan)
        changed = {name: [before[name], after[name]] for name in fields if before[name] != after[name]}
        if not changed:
            return before
        plan.updated_at = utcnow()
        self._flush_plan(plan_id)
        dumped = PlanSchema().dump(plan)
        self.outbox.add(self.db, "plan.updated", dumped, changes=changed)
        self.db.commit()
        return dumped

    @rpc
    def delete_plan(self, plan_id: str, expected_version: int | None = None) -> None:
        plan = self._load_plan(plan_id, expected_version)
        plan.deleted_at = utcnow()
        self._flush_plan(plan_id)
        self.outbox.add(self.db, "plan.deleted", PlanSchema().dump(plan))
        self.db.commit()

    @rpc
    def list_plans(self, query: dict) -> dict:
        params = load(PlanQuerySchema(), query)
        stmt = visible_plans(select(Plan).where(Plan.deleted_at.is_(None)), self.context.scope)
        for name in ("period", "department_id", "user_id", "metric"):
            if params[name]:
                stmt = stmt.where(getattr(Plan, name) == params[name])
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            Plan,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=("created_at", "period", "metric"),
        )
        return {"items": PlanSchema(many=True).dump(rows), "next_cursor": next_cursor}

    @rpc
    def plan_vs_actual(self, query: dict) -> dict:
        """Each plan of the period (narrowed to a department or user) with its actual and percentage."""
        params = load(PlanVsActualQuerySchema(), query)
        check_filters(self.db, self.context.scope, params)
        start, end = period_dates(params["period"])
        stmt = select(Plan).where(Plan.deleted_at.is_(None), Plan.period == params["period"])
        stmt = visible_plans(stmt, self.context.scope)
        for name in ("department_id", "user_id"):
            if params[name]:
                stmt = stmt.where(getattr(Plan, name) == params[name])
        rows = []
        for plan in self.db.scalars(stmt.order_by(Plan.metric, Plan.created_at)):
            report_params = {
                "from_": start,
                "to": end,
                "tz": params["tz"],
                "group_by": None,
                "kpi": [plan.metric],
                "department_id": plan.department_id,
                "user_id": plan.user_id,
            }
            values = self._kpi_report(report_params)["kpis"]
            rows.append(plan_actual(PlanSchema().dump(plan), values))
        report = {
            "period": params["period"],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "tz": params["tz"],
            "plans": rows,
            "fresh_as_of": fresh_as_of(self.db),
        }
        return rendered("plan-vs-actual", report, params["format"])

    def _load_plan(self, plan_id: str, expected_version: int | None = None) -> Plan:
        plan = self.db.scalar(visible_plans(select(Plan).where(Plan.id == plan_id), self.context.scope))
        if plan is None or plan.deleted_at is not None:
            raise NotFound(f"plan {plan_id} not found")
        if expected_version is not None and plan.version != expected_version:
            raise PreconditionFailed(
                f"plan {plan_id} is at version {plan.version}, not {expected_version}; read it again"
            )
        return plan

    def _flush_plan(self, plan_id: str) -> None:
        try:
            self.db.flush()
        except StaleDataError:
            self.db.rollback()
            raise PreconditionFailed(f"plan {plan_id} was changed meanwhile; read it again") from None
