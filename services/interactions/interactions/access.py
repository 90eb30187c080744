"""Who may see and change which of this service's records (the rules are in `crm_kernel.scope`).

Each kind names the columns that make a record the caller's own; every kind has a `department_id`.
Queries are restricted with `scoped` (pages stay full, counts true); a single record the caller may
not see reads as absent (`visible_or_404`). On writes, `check_placement` refuses to put a record in a
department the caller could not see, or to hand it to a user of such a department (422).
"""

import re

from sqlalchemy.orm import Session

from crm_kernel import records
from crm_kernel.errors import ValidationFailed
from crm_kernel.scope import Scope, visible
from interactions.models import (
    Campaign,
    CampaignResponse,
    Deal,
    DocumentReplica,
    Interaction,
    SlaPolicy,
    Task,
    Ticket,
    UserReplica,
)

# kind -> the columns naming the users whose own record it is
OWNERS = {
    Interaction: ("user_id",),
    Ticket: ("assignee_id",),
    Deal: ("owner_id",),
    Task: ("assignee_id",),
    Campaign: ("owner_id",),
    CampaignResponse: ("user_id",),
    DocumentReplica: ("uploaded_by",),
    SlaPolicy: (),
}

# kind -> the columns naming a user the record is handed to (checked on writes)
HANDED_TO = {Interaction: "user_id", Ticket: "assignee_id", Deal: "owner_id", Task: "assignee_id", Campaign: "owner_id"}


def noun(model) -> str:
    """How messages name a kind: SlaPolicy -> "sla policy"."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()


def scoped(stmt, model, scope: Scope):
    """`stmt` restricted to the rows of `model` that `scope` may see."""
    return visible(stmt, model, scope, owners=OWNERS[model])


def visible_or_404(db: Session, model, entity_id: str, scope: Scope, expected_version: int | None = None):
    """The live record if the caller may see it, else a 404 worded as for an unknown id; then a stale
    `expected_version` is a 412 (checked last, so it never confirms that a hidden record exists)."""
    return records.visible_or_404(
        db, model, entity_id, scope, noun=noun(model), expected_version=expected_version, owners=OWNERS[model]
    )


def flush_or_stale(db: Session, entity) -> None:
    """Write the pending changes of `entity`; 412 when another writer changed it since it was read."""
    records.flush_or_stale(db, f"{noun(type(entity))} {entity.id}")


def check_placement(db: Session, scope: Scope, model, fields: dict) -> None:
    """422 naming the field when `fields` put the record where the caller could not see it."""
    if scope.unrestricted:
        return
    if "department_id" in fields and not scope.may_place(fields["department_id"]):
        raise ValidationFailed(
            "department_id must be a department you may see",
            {"department_id": ["not a department you may see"]},
        )
    user_field = HANDED_TO.get(model)
    user_id = fields.get(user_field) if user_field else None
    if user_id and user_id != scope.user_id:
        user = db.get(UserReplica, user_id)
        # A user this service has not heard of yet is let through: the replica follows events.
        if user is not None and not scope.may_place(user.department_id):
            raise ValidationFailed(
                f"{user_field} must be a user of a department you may see",
                {user_field: ["a user of a department you may not see"]},
            )
