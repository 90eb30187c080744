"""Who may see and change which of this service's records (the rules are in `crm_kernel.scope`).

Each kind names the columns that make a record the caller's own; every kind has a `department_id`.
Queries are restricted with `scoped` (pages stay full, counts true); a single record the caller may
not see reads as absent (`load_visible` -> 404). On writes, `check_placement` refuses to put a record
in a department the caller could not see, or to hand it to a user of such a department (422).
"""

from sqlalchemy.orm import Session

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
from interactions.records import load_live

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


def scoped(stmt, model, scope: Scope | None):
    """`stmt` restricted to the rows of `model` that `scope` may see."""
    return visible(stmt, model, scope, owners=OWNERS[model])


def sees(scope: Scope | None, entity) -> bool:
    """Whether `scope` may see `entity`, a loaded record (None: no user behind the call, unrestricted)."""
    if scope is None:
        return True
    model = type(entity)
    columns = (*OWNERS[model], "department_id")
    return scope.sees({name: getattr(entity, name) for name in columns}, owners=OWNERS[model])


def load_visible(session: Session, model, entity_id: str, scope: Scope | None, expected_version: int | None = None):
    """The live entity if the caller may see it; otherwise a 404 exactly like an unknown id."""
    return load_live(session, model, entity_id, expected_version, visible=lambda entity: sees(scope, entity))


def may_place(scope: Scope | None, department_id: str | None) -> bool:
    """Whether the caller may put a record in `department_id` (None: no user behind the call)."""
    return scope is None or scope.may_place(department_id)


def check_placement(session: Session, scope: Scope | None, model, fields: dict) -> None:
    """422 naming the field when `fields` put the record where the caller could not see it."""
    if scope is None or scope.unrestricted:
        return
    if "department_id" in fields and not may_place(scope, fields["department_id"]):
        raise ValidationFailed(
            "department_id must be a department you may see",
            {"department_id": ["not a department you may see"]},
        )
    user_field = HANDED_TO.get(model)
    user_id = fields.get(user_field) if user_field else None
    if user_id and user_id != scope.user_id:
        user = session.get(UserReplica, user_id)
        # A user this service has not heard of yet is let through: the replica follows events.
        if user is not None and not may_place(scope, user.department_id):
            raise ValidationFailed(
                f"{user_field} must be a user of a department you may see",
                {user_field: ["a user of a department you may not see"]},
            )


class ScopedRecords:
    """The service's way to the rules above, with the scope of the call it serves."""

    def _load(self, model, entity_id: str, expected_version: int | None = None):
        return load_visible(self.db, model, entity_id, self.context.scope, expected_version)

    def _scoped(self, stmt, model):
        return scoped(stmt, model, self.context.scope)

    def _check_placement(self, model, fields: dict) -> None:
        check_placement(self.db, self.context.scope, model, fields)
