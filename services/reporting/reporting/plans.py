"""Plans: targets per department or user and period, and how far the actual figures reached them.

Plain functions over an explicit session, the caller's scope and the outbox; each change commits with
its `plan.*` event. A manager reads the plans of their departments and of their users, an agent those
set for them; an admin or a manager sets targets (`Scope.may_set_target`).
"""

from decimal import Decimal

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from crm_kernel import records
from crm_kernel.db import utcnow
from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from reporting.events import fresh_as_of
from reporting.models import Plan, User
from reporting.periods import period_dates
from reporting.reports import check_filters, department_of, kpi_report
from reporting.schemas import PlanSchema, check_plan_target

SORTABLE = ("created_at", "period", "metric")


def create(db: Session, scope: Scope, fields: dict, *, outbox) -> dict:
    check_target(fields)
    check_placement(db, scope, fields)
    plan = Plan(**fields)
    db.add(plan)
    db.flush()
    dumped = PlanSchema().dump(plan)
    outbox.add(db, "plan.created", dumped)
    db.commit()
    return dumped


def get(db: Session, scope: Scope, plan_id) -> dict:
    return PlanSchema().dump(find_visible(db, scope, plan_id))


def update(db: Session, scope: Scope, plan_id, changes: dict, expected_version, *, outbox) -> dict:
    """Change the fields given (404 and 412 before bad input is reported); nothing changed, no event."""
    plan = find_visible(db, scope, plan_id, expected_version)
    fields = load(PlanSchema(), changes, partial=True)
    before = PlanSchema().dump(plan)
    check_target({**before, "value": plan.value, **fields})
    check_placement(db, scope, fields)
    for name, value in fields.items():
        setattr(plan, name, value)
    changed = records.changes(before, PlanSchema().dump(plan), fields)
    if not changed:
        return before
    plan.updated_at = utcnow()
    records.flush_or_stale(db, plan.id)
    dumped = PlanSchema().dump(plan)
    outbox.add(db, "plan.updated", dumped, changes=changed)
    db.commit()
    return dumped


def delete(db: Session, scope: Scope, plan_id, expected_version, *, outbox) -> None:
    plan = find_visible(db, scope, plan_id, expected_version)
    plan.deleted_at = utcnow()
    records.flush_or_stale(db, plan.id)
    outbox.add(db, "plan.deleted", PlanSchema().dump(plan))
    db.commit()


def search(db: Session, scope: Scope, params: dict) -> dict:
    """A page of the plans the caller may read, filtered by `params` (PlanQuerySchema)."""
    stmt = visible(select(Plan).where(Plan.deleted_at.is_(None)), scope)
    for name in ("period", "department_id", "user_id", "metric"):
        if params[name]:
            stmt = stmt.where(getattr(Plan, name) == params[name])
    rows, next_cursor = keyset_page(
        db, stmt, Plan, limit=params["limit"], cursor=params["cursor"], sort=params["sort"], sortable=SORTABLE
    )
    return {"items": PlanSchema(many=True).dump(rows), "next_cursor": next_cursor}


def plan_vs_actual(db: Session, scope: Scope, params: dict) -> dict:
    """Each plan of the period (narrowed to a department or user) with its actual and percentage."""
    check_filters(db, scope, params)
    start, end = period_dates(params["period"])
    stmt = visible(select(Plan).where(Plan.deleted_at.is_(None), Plan.period == params["period"]), scope)
    for name in ("department_id", "user_id"):
        if params[name]:
            stmt = stmt.where(getattr(Plan, name) == params[name])
    rows = []
    for plan in db.scalars(stmt.order_by(Plan.metric, Plan.created_at)):
        report_params = {
            "from_": start,
            "to": end,
            "tz": params["tz"],
            "group_by": None,
            "kpi": [plan.metric],
            "department_id": plan.department_id,
            "user_id": plan.user_id,
        }
        rows.append(plan_actual(PlanSchema().dump(plan), kpi_report(db, scope, report_params)["kpis"]))
    return {
        "period": params["period"],
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tz": params["tz"],
        "plans": rows,
        "fresh_as_of": fresh_as_of(db),
    }


def plan_actual(plan: dict, values: dict) -> dict:
    """A plan with its actual and how much of it was reached (actual / plan, as a percentage)."""
    actual = values[plan["metric"]]
    if plan["metric"] == "won_amount":
        actual = actual.get(plan["currency"], "0")
    elif plan["metric"] == "sla_compliance":
        actual = actual["share"]
    target = Decimal(plan["value"])
    reached = None if actual is None or not target else round(float(Decimal(str(actual)) / target * 100), 1)
    return {"plan": plan, "actual": actual, "percentage": reached}


def find_visible(db: Session, scope: Scope, plan_id, expected_version: int | None = None) -> Plan:
    """The live plan the caller may read (404 otherwise), at `expected_version` when one is given (412)."""
    plan = None
    if records.plausible_id(plan_id):
        plan = db.scalar(visible(select(Plan).where(Plan.id == plan_id, Plan.deleted_at.is_(None)), scope))
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    records.check_version(plan, expected_version, "plan")
    return plan


def visible(stmt, scope: Scope):
    """`stmt` restricted to the plans `scope` may read: a manager's are those of their departments and
    of their users; an agent's those set for them."""
    if scope.sees_all_figures:
        return stmt
    if scope.role == "manager":
        users = select(User.id).where(User.department_id.in_(scope.departments))
        return stmt.where(or_(Plan.department_id.in_(scope.departments), Plan.user_id.in_(users)))
    if scope.role == "agent":
        return stmt.where(Plan.user_id == scope.user_id)
    return stmt.where(false())


def check_target(plan: dict) -> None:
    """422 naming the fields of a plan that is not consistent as a whole."""
    errors = check_plan_target(plan)
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(errors))}", errors)


def check_placement(db: Session, scope: Scope, plan: dict) -> None:
    """422 naming the field when a plan would target a department or user outside the caller's scope."""
    if plan.get("department_id") and not scope.may_set_target(plan["department_id"]):
        raise ValidationFailed(
            "department_id must be a department you may see", {"department_id": ["not a department you may see"]}
        )
    if plan.get("user_id") and not scope.may_set_target(department_of(db, plan["user_id"]), plan["user_id"]):
        raise ValidationFailed(
            "user_id must be a user of a department you may see",
            {"user_id": ["not a user of a department you may see"]},
        )
