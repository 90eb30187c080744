"""Where a caller may put contacts and companies, and to whom they may hand them (who sees them is
`crm_kernel.scope.visible`)."""

from sqlalchemy import select

from contacts.models import UserReplica
from crm_kernel.scope import Scope

OWNER_REFUSED = {"owner_id": ["not a user you may hand records to"]}


def placement_errors(scope: Scope | None, fields: dict) -> dict:
    """`department_id` refused when it is a department the caller may not put records in, or none at all
    from someone who is not an admin (a record with no department is seen by its owner and admins only).
    Used by the API and by the CSV import alike."""
    department_id = fields.get("department_id")
    if department_id and scope is not None and not scope.may_place(department_id):
        return {"department_id": ["not a department you may assign records to"]}
    # A record in no department is out of every manager's sight: only an admin leaves one there.
    nowhere = "department_id" in fields and department_id is None
    if nowhere and scope is not None and scope.departments and not scope.unrestricted:
        return {"department_id": ["only an admin may leave a record without a department"]}
    return {}


def refused_owners(session, scope: Scope | None, owner_ids: set) -> set[str]:
    """The users among `owner_ids` the caller may not hand contacts to: inactive, or of a department
    they may not place records in (per the replica of the gateway's users). A user the replica has not
    heard of yet is let through, as interactions does: the replica follows events within moments."""
    if scope is None or scope.unrestricted:
        return set()
    wanted = {owner for owner in owner_ids if owner and owner != scope.user_id}
    if not wanted:
        return set()
    users = session.scalars(select(UserReplica).where(UserReplica.id.in_(wanted)))
    return {user.id for user in users if not user.active or not scope.may_place(user.department_id)}
