"""Where a caller may put contacts and companies, and to whom they may hand them (who sees them is
`crm_kernel.scope.visible`). One rule for the JSON writes and the CSV import alike."""

from sqlalchemy import select

from contacts.models import UserReplica
from crm_kernel.records import plausible_id
from crm_kernel.scope import SYSTEM, Scope

OWNER_REFUSED = {"owner_id": ["not a user you may hand records to"]}


def placement_errors(scope: Scope | None, fields: dict) -> dict:
    """`department_id` refused when it is a department the caller may not put records in, or none at all
    from someone who is not an admin (a record with no department is seen by its owner and admins only)."""
    scope = scope or Scope.nobody()
    department_id = fields.get("department_id")
    if department_id and not scope.may_place(department_id):
        return {"department_id": ["not a department you may assign records to"]}
    # A record in no department is out of every manager's sight: only an admin leaves one there (and a
    # user in no department, whose records have none to go to).
    nowhere = "department_id" in fields and department_id is None
    if nowhere and not scope.unrestricted and scope.departments:
        return {"department_id": ["only an admin may leave a record without a department"]}
    return {}


def refused_owners(session, scope: Scope | None, owner_ids: set) -> set[str]:
    """The users among `owner_ids` the caller may not hand records to.

    Anyone may hand a record to themselves. Otherwise the owner must be an active user of the replica
    of the gateway's users (`users.py`) in a department the caller may place records in: an admin any
    active user, a manager a user of their subtree, an agent a user of their own department. A call
    that says it acts for no user (`Scope.system()`) is not restricted; one with no scope hands nothing.
    """
    scope = scope or Scope.nobody()
    if scope.role == SYSTEM:
        return set()
    wanted = {owner for owner in owner_ids if owner and owner != scope.user_id}
    if not wanted:
        return set()
    known = [owner for owner in wanted if plausible_id(owner)]
    users = {user.id: user for user in session.scalars(select(UserReplica).where(UserReplica.id.in_(known)))}
    return {
        owner
        for owner in wanted
        if owner not in users or not users[owner].active or not scope.may_place(users[owner].department_id)
    }


def owner_errors(session, scope: Scope | None, fields: dict) -> dict:
    """`owner_id` refused (see `refused_owners`) when `fields` hand the record to someone."""
    owner_id = fields.get("owner_id")
    if owner_id and refused_owners(session, scope, {owner_id}):
        return dict(OWNER_REFUSED)
    return {}
