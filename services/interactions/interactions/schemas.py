"""The interactions wire format: interactions, tickets, comments and SLA policies."""

from marshmallow import ValidationError, fields, validate, validates

from crm_kernel.db import utcnow
from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, UTCDateTime
from interactions.sla import MAX_TARGET_MINUTES, PRIORITIES, working_hours_problems
from interactions.workflow import TICKET_STATUSES

CHANNELS = ("call", "email", "meeting", "chat", "note", "order", "complaint")
DIRECTIONS = ("inbound", "outbound", "internal")
REQUIREMENT_PRIORITIES = ("low", "normal", "high")
ID = validate.Length(min=1, max=32)


class RequirementSchema(StrictSchema):
    """One of the customer's individual requirements, as the agent recorded it."""

    topic = fields.String(required=True, validate=validate.Length(min=1, max=100))
    detail = fields.String(load_default="", validate=validate.Length(max=2000))
    priority = fields.String(load_default="normal", validate=validate.OneOf(REQUIREMENT_PRIORITIES))


class InteractionSchema(EntitySchema):
    contact_id = fields.String(required=True, validate=ID)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    direction = fields.String(load_default="inbound", validate=validate.OneOf(DIRECTIONS))
    # A time without a zone is ambiguous across sites: it is refused, not guessed. Left out, it is
    # now (an agent logs the call they just took); an update that leaves it out keeps the old one.
    occurred_at = UTCDateTime(load_default=utcnow)
    duration_s = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=7 * 24 * 3600))
    subject = fields.String(load_default="", validate=validate.Length(max=300))
    body = fields.String(load_default="", validate=validate.Length(max=100_000))
    outcome = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=100))
    user_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)
    requirements = fields.List(fields.Nested(RequirementSchema), load_default=list, validate=validate.Length(max=50))


class InteractionQuerySchema(PageQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    contact_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    sort = fields.String(load_default="-occurred_at")


INTERACTION_SORTS = ("occurred_at", "created_at")


class TicketSchema(EntitySchema):
    contact_id = fields.String(required=True, validate=ID)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    description = fields.String(load_default="", validate=validate.Length(max=100_000))
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    # Changed only by `POST /tickets/{id}/transitions`, so that every change follows the workflow.
    status = fields.String(dump_only=True)
    assignee_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)
    interaction_id = fields.String(allow_none=True, load_default=None)
    sla_due_at = fields.AwareDateTime(dump_only=True)
    first_response_at = fields.AwareDateTime(dump_only=True)
    resolved_at = fields.AwareDateTime(dump_only=True)
    breached_at = fields.AwareDateTime(dump_only=True)
    escalated_to = fields.String(dump_only=True)


class TicketQuerySchema(PageQuerySchema):
    contact_id = fields.String(load_default=None)
    assignee_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(TICKET_STATUSES))
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))


TICKET_SORTS = ("created_at", "sla_due_at", "updated_at")


class CommentSchema(StrictSchema):
    id = fields.String(dump_only=True)
    ticket_id = fields.String(dump_only=True)
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    # Internal notes are for staff; a customer-facing comment is the company's answer.
    internal = fields.Boolean(load_default=False)
    author_id = fields.String(allow_none=True, load_default=None)
    created_at = fields.AwareDateTime(dump_only=True)


class CommentQuerySchema(PageQuerySchema):
    sort = fields.String(load_default="created_at")  # oldest first, as a conversation reads


class TicketTransitionSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(TICKET_STATUSES))


class SlaTargetsSchema(StrictSchema):
    low = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_TARGET_MINUTES))
    normal = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_TARGET_MINUTES))
    high = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_TARGET_MINUTES))
    urgent = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_TARGET_MINUTES))


class SlaPolicySchema(EntitySchema):
    department_id = fields.String(required=True, validate=ID)
    targets = fields.Nested(SlaTargetsSchema, required=True)
    # None: the department's own working hours (from the gateway) apply.
    working_hours = fields.Dict(allow_none=True, load_default=None)

    @validates("working_hours")
    def _working_hours(self, value, **kwargs):
        if value is not None:
            problems = working_hours_problems(value)
            if problems:
                raise ValidationError(problems)


class SlaPolicyQuerySchema(PageQuerySchema):
    department_id = fields.String(load_default=None)
