"""The documents wire format.

`version` is the optimistic-lock version every entity carries (the ETag); the number of the current
content version is `current_version`.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, UTCDateTime
from documents.workflow import ACTIONS, STATUSES

KINDS = ("contract", "quote", "invoice", "letter", "complaint", "other")
TEMPLATES = ("quote", "contract")
SHA256 = r"^[0-9a-f]{64}$"
ID = validate.Length(min=1, max=32)


class ContentSchema(StrictSchema):
    """What the gateway sends about content it has stored by `PUT /blobs`."""

    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(load_default="application/octet-stream", validate=validate.Length(max=100))
    sha256 = fields.String(required=True, validate=validate.Regexp(SHA256))
    size = fields.Integer(required=True, validate=validate.Range(min=1))


class DocumentSchema(ContentSchema, EntitySchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(load_default="other", validate=validate.OneOf(KINDS))
    status = fields.String(dump_only=True)
    contact_id = fields.String(allow_none=True, load_default=None, validate=ID)
    deal_id = fields.String(allow_none=True, load_default=None, validate=ID)
    ticket_id = fields.String(allow_none=True, load_default=None, validate=ID)
    uploaded_by = fields.String(dump_only=True)
    uploaded_by_department_id = fields.String(dump_only=True)
    current_version = fields.Integer(dump_only=True)


class VersionSchema(Schema):
    number = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    uploaded_by = fields.String()
    created_at = fields.AwareDateTime()


class TransitionSchema(Schema):
    id = fields.String()
    action = fields.String()
    from_status = fields.String()
    to_status = fields.String()
    comment = fields.String()
    actor = fields.String()
    created_at = fields.AwareDateTime()


class TransitionRequestSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class DealDataSchema(StrictSchema):
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    amount = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    currency = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=3))


class GenerateSchema(StrictSchema):
    """`POST /documents/generate`: which template, for whom; the gateway adds the contact's data."""

    template = fields.String(required=True, validate=validate.OneOf(TEMPLATES))
    contact_id = fields.String(required=True, validate=ID)
    deal_id = fields.String(load_default=None, allow_none=True, validate=ID)
    deal = fields.Nested(DealDataSchema, load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=300))


class DocumentQuerySchema(PageQuerySchema):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    contact_id = fields.String(load_default=None, validate=ID)
    deal_id = fields.String(load_default=None, validate=ID)
    ticket_id = fields.String(load_default=None, validate=ID)
    created_from = UTCDateTime(load_default=None)
    created_to = UTCDateTime(load_default=None)

    @validates_schema
    def period_runs_forward(self, data, **kwargs):
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            raise ValidationError("created_to is before created_from", "created_to")
