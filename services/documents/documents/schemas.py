"""The documents wire format."""

from marshmallow import fields, validate

from crm_kernel.schemas import EntitySchema

KINDS = ("contract", "quote", "invoice", "letter", "complaint", "other")
STATUSES = ("draft", "in_review", "approved", "rejected", "signed", "archived")
SHA256 = r"^[0-9a-f]{64}$"


class DocumentSchema(EntitySchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(load_default="other", validate=validate.OneOf(KINDS))
    status = fields.String(dump_only=True)
    contact_id = fields.String(allow_none=True, load_default=None)
    deal_id = fields.String(allow_none=True, load_default=None)
    ticket_id = fields.String(allow_none=True, load_default=None)
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(load_default="application/octet-stream", validate=validate.Length(max=100))
    sha256 = fields.String(required=True, validate=validate.Regexp(SHA256))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    uploaded_by = fields.String(dump_only=True)
