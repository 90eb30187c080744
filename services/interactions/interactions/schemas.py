"""The interactions wire format, one module: interactions, tickets and their comments, SLA policies,
deals and their history, tasks, campaigns and their responses, a contact's timeline."""

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates

from crm_kernel.db import utcnow
from crm_kernel.records import changes
from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, UTCDateTime
from interactions.sla import MAX_TARGET_MINUTES, MIN_WEEKLY_MINUTES, PRIORITIES, WEEKDAYS, working_hours_problems
from interactions.workflow import DEAL_STAGES, OPEN_DEAL_STAGES, TICKET_STATUSES

CHANNELS = ("call", "email", "meeting", "chat", "note", "order", "complaint")
DIRECTIONS = ("inbound", "outbound", "internal")
REQUIREMENT_PRIORITIES = ("low", "normal", "high")
TASK_STATUSES = ("open", "done", "cancelled")
RESPONSE_KINDS = ("sent", "opened", "clicked", "replied", "converted", "declined")
ID = validate.Length(min=1, max=32)


def assign(entity, schema: Schema, fields: dict) -> dict:
    """Set `fields` on `entity`; returns `{field: [old, new]}` as the wire format shows them."""
    before = schema.dump(entity)
    for name, value in fields.items():
        setattr(entity, name, value)
    return changes(before, schema.dump(entity), fields)


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


HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"
INTERVAL = {"type": "array", "items": {"type": "string", "pattern": HHMM_PATTERN}, "minItems": 2, "maxItems": 2}
# How the OpenAPI document states `working_hours_problems` (order and overlaps are in the description).
WORKING_HOURS = {
    "description": "per weekday a list of [start, end] intervals in HH:MM, start before end, not overlapping; "
    f"at least {MIN_WEEKLY_MINUTES} minutes a week, or none",
    "properties": {day: {"type": "array", "items": INTERVAL} for day in WEEKDAYS},
    "additionalProperties": False,
}


class SlaPolicySchema(EntitySchema):
    department_id = fields.String(required=True, validate=ID)
    targets = fields.Nested(SlaTargetsSchema, required=True)
    # None: the department's own working hours (from the gateway) apply.
    working_hours = fields.Dict(allow_none=True, load_default=None, metadata=WORKING_HOURS)

    @validates("working_hours")
    def _working_hours(self, value, **kwargs):
        if value is not None:
            problems = working_hours_problems(value)
            if problems:
                raise ValidationError(problems)


class SlaPolicyQuerySchema(PageQuerySchema):
    department_id = fields.String(load_default=None)


class Money(fields.Decimal):
    """A decimal amount as a string (never a float), with at most 4 places; dumped with at least 2."""

    def __init__(self, **kwargs):
        # The pattern states the rules below (not negative; 14 digits before the point, 4 after).
        metadata = {"type": "string", "format": "decimal", "example": "1250.00", "pattern": r"^\d{1,14}(\.\d{1,4})?$"}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError('an amount is a decimal string such as "1250.00"')
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount < 0:
            raise ValidationError("an amount is not negative")
        if amount.as_tuple().exponent < -4 or abs(amount) >= Decimal(10) ** 14:
            raise ValidationError("at most 14 digits before and 4 after the decimal point")
        return amount

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        value = Decimal(value).normalize()
        if value.as_tuple().exponent > -2:
            value = value.quantize(Decimal("0.01"))
        return format(value, "f")


class DealSchema(EntitySchema):
    contact_id = fields.String(required=True, validate=ID)
    company_id = fields.String(allow_none=True, load_default=None)
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    amount = Money(required=True)
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code: 3 capitals")
    )
    # Set on create (an open stage, default lead); changed only by `POST /deals/{id}/transitions`.
    stage = fields.String(load_default="lead", validate=validate.OneOf(OPEN_DEAL_STAGES))
    owner_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)
    expected_close = fields.Date(allow_none=True, load_default=None)
    lost_reason = fields.String(dump_only=True)


class DealQuerySchema(PageQuerySchema):
    contact_id = fields.String(load_default=None)
    owner_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    stage = fields.String(load_default=None, validate=validate.OneOf(DEAL_STAGES))


DEAL_SORTS = ("created_at", "updated_at", "expected_close")


class DealTransitionSchema(StrictSchema):
    stage = fields.String(required=True, validate=validate.OneOf(DEAL_STAGES))
    lost_reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))


class StageChangeSchema(StrictSchema):
    id = fields.String()
    deal_id = fields.String()
    from_stage = fields.String(allow_none=True)
    to_stage = fields.String()
    changed_by = fields.String(allow_none=True)
    changed_at = fields.AwareDateTime()
    note = fields.String(allow_none=True)


class ZonedTime(UTCDateTime):
    default_error_messages = {"invalid_awareness": "a due time without a zone: add an offset such as +01:00 or Z"}


class TaskSchema(EntitySchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    due_at = ZonedTime(allow_none=True, load_default=None)
    # The due time on the assignee's wall clock, when their time zone is known.
    due_local = fields.String(dump_only=True)
    assignee_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(load_default="open", validate=validate.OneOf(TASK_STATUSES))
    contact_id = fields.String(allow_none=True, load_default=None, validate=ID)
    deal_id = fields.String(allow_none=True, load_default=None)
    ticket_id = fields.String(allow_none=True, load_default=None)
    completed_at = fields.AwareDateTime(dump_only=True)


class TaskQuerySchema(PageQuerySchema):
    assignee_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    contact_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(TASK_STATUSES))
    sort = fields.String(load_default="-created_at")


TASK_SORTS = ("created_at", "due_at", "updated_at")


class OverdueQuerySchema(PageQuerySchema):
    assignee_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    sort = fields.String(load_default="due_at")


class CampaignSchema(EntitySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    offer = fields.String(load_default="", validate=validate.Length(max=10_000))
    department_id = fields.String(allow_none=True, load_default=None)
    owner_id = fields.String(allow_none=True, load_default=None)
    starts_at = UTCDateTime(allow_none=True, load_default=None)


class CampaignQuerySchema(PageQuerySchema):
    department_id = fields.String(load_default=None)


CAMPAIGN_SORTS = ("created_at", "starts_at", "name")


class ResponseSchema(StrictSchema):
    id = fields.String(dump_only=True)
    campaign_id = fields.String(dump_only=True)
    contact_id = fields.String(required=True, validate=ID)
    kind = fields.String(required=True, validate=validate.OneOf(RESPONSE_KINDS))
    occurred_at = UTCDateTime(load_default=None)
    user_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)


class ResponseQuerySchema(StrictSchema):
    kind = fields.String(load_default=None, validate=validate.OneOf(RESPONSE_KINDS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


class TimelineQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)
