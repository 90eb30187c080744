"""SLA policies: a department's resolution targets per priority, and the due time of a ticket by them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, ValidationFailed
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from interactions.access import check_placement, flush_or_stale, scoped, visible_or_404
from interactions.models import DepartmentReplica, SlaPolicy
from interactions.schemas import SlaPolicyQuerySchema, SlaPolicySchema, assign
from interactions.sla import due_time, sla_terms


def create(db: Session, scope: Scope, data: dict, *, events) -> dict:
    """One policy per department (409 for a second)."""
    fields = load(SlaPolicySchema(), data)
    check_placement(db, scope, SlaPolicy, fields)
    if db.scalar(select(SlaPolicy).where(SlaPolicy.department_id == fields["department_id"])):
        raise Conflict(
            f"department {fields['department_id']} already has an SLA policy; change that one",
            {"department_id": ["already has a policy"]},
        )
    policy = SlaPolicy(**fields)
    db.add(policy)
    db.flush()
    dumped = SlaPolicySchema().dump(policy)
    events.add(db, "sla_policy.created", dumped)
    return dumped


def get(db: Session, scope: Scope, policy_id: str) -> dict:
    return SlaPolicySchema().dump(visible_or_404(db, SlaPolicy, policy_id, scope))


def update(db: Session, scope: Scope, policy_id: str, changes: dict, expected_version, *, events) -> dict:
    policy = visible_or_404(db, SlaPolicy, policy_id, scope, expected_version)
    fields = load(SlaPolicySchema(), changes, partial=True)
    if fields.get("department_id", policy.department_id) != policy.department_id:
        raise Conflict("a policy belongs to its department; create one for the other", {"department_id": ["fixed"]})
    changed = assign(policy, SlaPolicySchema(), fields)
    if changed:
        policy.updated_at = utcnow()
        flush_or_stale(db, policy)
        events.add(db, "sla_policy.updated", SlaPolicySchema().dump(policy), changes=changed)
    return SlaPolicySchema().dump(policy)


def delete(db: Session, scope: Scope, policy_id: str, expected_version, *, events) -> None:
    """The department falls back to the default targets (for tickets opened from now on)."""
    policy = visible_or_404(db, SlaPolicy, policy_id, scope, expected_version)
    dumped = SlaPolicySchema().dump(policy)
    db.delete(policy)
    events.add(db, "sla_policy.deleted", dumped)


def page(db: Session, scope: Scope, query: dict) -> dict:
    params = load(SlaPolicyQuerySchema(), query)
    stmt = scoped(select(SlaPolicy), SlaPolicy, scope)
    if params["department_id"]:
        stmt = stmt.where(SlaPolicy.department_id == params["department_id"])
    rows, next_cursor = keyset_page(
        db,
        stmt,
        SlaPolicy,
        limit=params["limit"],
        cursor=params["cursor"],
        sort=params["sort"],
        sortable=("created_at",),
    )
    return {"items": SlaPolicySchema(many=True).dump(rows), "next_cursor": next_cursor}


def ticket_due_time(db: Session, ticket):
    """When `ticket` must be resolved: its department's policy and working hours (from the gateway's
    department replica), counted from its creation."""
    department = db.get(DepartmentReplica, ticket.department_id) if ticket.department_id else None
    policy = db.scalar(select(SlaPolicy).where(SlaPolicy.department_id == ticket.department_id))
    targets, hours, tz = sla_terms(
        policy.targets if policy else None,
        policy.working_hours if policy else None,
        None if department is None or department.deleted else (department.working_hours, department.timezone),
    )
    try:
        return due_time(ticket.created_at, targets[ticket.priority], hours, tz)
    except ValueError:  # hours recorded before the weekly minimum existed
        raise ValidationFailed(
            "the department's working hours leave no time to meet its SLA target",
            {"department_id": ["its working hours are too few for the SLA target"]},
        ) from None
