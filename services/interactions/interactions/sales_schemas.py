"""The wire format of the sales and marketing desk: deals, their history, tasks, campaigns."""

from decimal import Decimal

from marshmallow import ValidationError, fields, validate

from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, UTCDateTime
from interactions.workflow import DEAL_STAGES, OPEN_DEAL_STAGES

ID = validate.Length(min=1, max=32)
TASK_STATUSES = ("open", "done", "cancelled")
RESPONSE_KINDS = ("sent", "opened", "clicked", "replied", "converted", "declined")


class Money(fields.Decimal):
    """A decimal amount as a string (never a float), with at most 4 places; dumped with at least 2."""

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "decimal", "example": "1250.00"}
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
