"""Whose figures and plans a caller sees (the record rules are in `crm_kernel.scope`).

Reports count records, so they follow the record rules: admins and analysts (whose job is reports)
see every department's figures; a manager those of their department and every department below it;
an agent their own. The restriction is part of each query (totals stay true), and a department or
user filter outside it is a 404, as for an unknown id, so a report never confirms what exists there.
"""

from sqlalchemy import false, func, or_, select

from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.scope import Scope
from reporting.kpis import DepartmentTree
from reporting.models import Fact, Plan, User


def sees_all(scope: Scope | None) -> bool:
    """A call that says it sees everything (`Scope.system()`), an admin, or an analyst."""
    return scope.unrestricted or scope.role == "analyst"


def effective_department():
    """A fact's department, or its user's when it has none (the statement must join `User`)."""
    return func.coalesce(Fact.department_id, User.department_id)


def visible_facts(stmt, scope: Scope | None):
    """`stmt` (facts joined to their users) restricted to the facts `scope` may count."""
    if sees_all(scope):
        return stmt
    if scope.role == "manager":
        return stmt.where(effective_department().in_(scope.departments))
    if scope.role == "agent":
        return stmt.where(Fact.user_id == scope.user_id)
    return stmt.where(false())


def visible_tree(tree: DepartmentTree, scope: Scope | None) -> DepartmentTree:
    """The part of the department tree `scope` sees: its top departments become roots, so figures grouped
    by department roll up no further than the caller may look."""
    if sees_all(scope):
        return tree
    shown = set(scope.departments)  # a manager's subtree; an agent's own department
    return DepartmentTree(
        {key: (parent if parent in shown else None) for key, parent in tree.parents.items() if key in shown}
    )


def sees_department(scope: Scope | None, department_id: str) -> bool:
    """A department's figures are the caller's to see where their records may be placed."""
    return sees_all(scope) or scope.may_place(department_id)


def sees_user(session, scope: Scope | None, user_id: str) -> bool:
    """Whether `scope` sees the figures of `user_id` (a manager: a user of their subtree, per the replica)."""
    if sees_all(scope) or user_id == scope.user_id:
        return True
    if scope.role != "manager":
        return False
    user = session.get(User, user_id)
    return user is not None and user.department_id in scope.departments


def check_filters(session, scope: Scope | None, params: dict) -> None:
    """404, exactly as for an unknown id, for a `department_id` or `user_id` filter of a report's `params`
    (one id, a list of ids, or None) naming a department or user outside `scope`."""
    as_list = lambda value: [value] if isinstance(value, str) else value or []  # noqa: E731
    for department_id in as_list(params.get("department_id")):
        if not sees_department(scope, department_id):
            raise NotFound(f"department {department_id} not found")
    for user_id in as_list(params.get("user_id")):
        if not sees_user(session, scope, user_id):
            raise NotFound(f"user {user_id} not found")


def visible_plans(stmt, scope: Scope | None):
    """`stmt` restricted to the plans `scope` may read: a manager's are those of their departments and
    of their users; an agent's those set for them."""
    if sees_all(scope):
        return stmt
    if scope.role == "manager":
        users = select(User.id).where(User.department_id.in_(scope.departments))
        return stmt.where(or_(Plan.department_id.in_(scope.departments), Plan.user_id.in_(users)))
    if scope.role == "agent":
        return stmt.where(Plan.user_id == scope.user_id)
    return stmt.where(false())


def check_plan_placement(session, scope: Scope | None, plan: dict) -> None:
    """422 naming the field when a plan would target a department or user outside the caller's scope."""
    if scope.unrestricted:
        return
    manager = scope.role == "manager"  # the only other role that sets targets
    if plan.get("department_id") and not (manager and sees_department(scope, plan["department_id"])):
        raise ValidationFailed(
            "department_id must be a department you may see", {"department_id": ["not a department you may see"]}
        )
    if plan.get("user_id") and not (manager and sees_user(session, scope, plan["user_id"])):
        raise ValidationFailed(
            "user_id must be a user of a department you may see",
            {"user_id": ["not a user of a department you may see"]},
        )
