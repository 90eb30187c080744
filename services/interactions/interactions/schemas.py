"""The interactions wire format."""

from marshmallow import fields, validate

from crm_kernel.schemas import EntitySchema, PageQuerySchema, UTCDateTime

CHANNELS = ("call", "email", "meeting", "chat", "note", "order", "complaint")
DIRECTIONS = ("inbound", "outbound", "internal")


class InteractionSchema(EntitySchema):
    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    direction = fields.String(load_default="inbound", validate=validate.OneOf(DIRECTIONS))
    # A time without a zone is ambiguous across sites: it is refused, not guessed.
    occurred_at = UTCDateTime(required=True)
    duration_s = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=7 * 24 * 3600))
    subject = fields.String(load_default="", validate=validate.Length(max=300))
    body = fields.String(load_default="", validate=validate.Length(max=100_000))
    outcome = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=100))
    user_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)


class InteractionQuerySchema(PageQuerySchema):
    contact_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    sort = fields.String(load_default="-occurred_at")


INTERACTION_SORTS = ("occurred_at", "created_at")
