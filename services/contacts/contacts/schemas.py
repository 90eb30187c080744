"""The contacts wire format."""

from marshmallow import fields, post_load, validate

from crm_kernel.schemas import EntitySchema, PageQuerySchema, TimeZone

E164 = r"^\+[1-9]\d{6,14}$"


class ContactSchema(EntitySchema):
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    last_name = fields.String(load_default="", validate=validate.Length(max=200))
    emails = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=list)
    phones = fields.List(
        fields.String(validate=validate.Regexp(E164, error="not an E.164 phone number such as +4930123456")),
        load_default=list,
    )
    company_id = fields.String(allow_none=True, load_default=None)
    owner_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)
    tags = fields.List(
        fields.String(
            validate=[validate.Length(min=1, max=50), validate.Regexp(r".*\S", error="a tag cannot be blank")]
        ),
        load_default=list,
    )
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)), load_default=dict)
    timezone = TimeZone(allow_none=True, load_default=None)
    marketing_consent = fields.Boolean(load_default=False)

    @post_load
    def normalise(self, data, **kwargs):
        if "emails" in data:
            data["emails"] = list(dict.fromkeys(e.strip().lower() for e in data["emails"]))
        if "phones" in data:
            data["phones"] = list(dict.fromkeys(data["phones"]))
        if "tags" in data:
            data["tags"] = sorted(set(t.strip() for t in data["tags"]))
        return data


class ContactQuerySchema(PageQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    tag = fields.String(load_default=None)
    company_id = fields.String(load_default=None)
    owner_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)


CONTACT_SORTS = ("created_at", "updated_at", "last_name")
