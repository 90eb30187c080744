"""The contacts wire format: contacts, companies, custom field definitions, duplicates and merges."""

from marshmallow import ValidationError, fields, post_load, pre_load, validate, validates_schema

from contacts.normalise import to_e164
from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, TimeZone, UTCDateTime

KEY = r"^[a-z][a-z0-9_]{0,99}$"
FIELD_TYPES = ("text", "number", "date", "choice", "bool")


class Phone(fields.String):
    """A phone number in any parseable form, stored and returned in E.164 (`+4930123456`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return to_e164(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ContactSchema(EntitySchema):
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    last_name = fields.String(load_default="", validate=validate.Length(max=200))
    emails = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=list)
    phones = fields.List(Phone(), load_default=list)
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
    merged_into = fields.String(dump_only=True, allow_none=True)

    @post_load
    def normalise(self, data, **kwargs):
        if "emails" in data:
            data["emails"] = list(dict.fromkeys(e.strip().lower() for e in data["emails"]))
        if "phones" in data:
            data["phones"] = list(dict.fromkeys(data["phones"]))
        if "tags" in data:
            data["tags"] = sorted(set(t.strip() for t in data["tags"]))
        return data


# One instance for every load and dump of a contact: building a schema cost four times loading one
# (about 280 µs, per create).
CONTACT_SCHEMA = ContactSchema()
DUMPED_TIMES = {name for name, f in CONTACT_SCHEMA.dump_fields.items() if isinstance(f, fields.DateTime)}


def created_entity(contact: dict) -> dict:
    """A new contact's row (every column, and its tags) as `ContactSchema().dump` gives it, for its answer
    and its `contact.created` event.

    Its values are already loaded and normalised, so only the times need formatting; dumping through
    marshmallow again cost a tenth of the import's time. A unit test holds the two equal.
    """
    dumped = CONTACT_SCHEMA.dump_fields
    return {name: contact[name].isoformat() if name in DUMPED_TIMES else contact[name] for name in dumped}


class DuplicateSchema(StrictSchema):
    """A contact that may be the same person: how sure (0-100) and why."""

    id = fields.String()
    score = fields.Integer()
    reasons = fields.List(fields.String())
    first_name = fields.String()
    last_name = fields.String()


class CompanySchema(EntitySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    domain = fields.String(
        allow_none=True,
        load_default=None,
        validate=[
            validate.Length(max=253),
            validate.Regexp(r"^([a-z0-9-]+\.)+[a-z]{2,}$", error="not a domain such as example.com"),
        ],
    )
    industry = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=100))
    owner_id = fields.String(allow_none=True, load_default=None)
    department_id = fields.String(allow_none=True, load_default=None)

    @pre_load
    def lower_domain(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("domain"), str):
            data = {**data, "domain": data["domain"].strip().lower()}
        return data


class FieldDefinitionSchema(EntitySchema):
    key = fields.String(required=True, validate=validate.Regexp(KEY, error="lower-case letters, digits and _"))
    label = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    choices = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    # How the OpenAPI document states `choices_go_with_choice`.
    openapi_rules = {
        "anyOf": [
            {"properties": {"type": {"enum": ["choice"]}, "choices": {"minItems": 1}}, "required": ["type", "choices"]},
            {
                "properties": {
                    "type": {"enum": [kind for kind in FIELD_TYPES if kind != "choice"]},
                    "choices": {"maxItems": 0},
                }
            },
        ]
    }

    @validates_schema
    def choices_go_with_choice(self, data, partial=None, **kwargs):
        if data.get("type") == "choice" and not data.get("choices"):
            raise ValidationError("a choice field needs its choices", "choices")
        if data.get("type") not in (None, "choice") and data.get("choices"):
            raise ValidationError("only a choice field has choices", "choices")


class ContactQuerySchema(PageQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    tag = fields.String(load_default=None)
    company_id = fields.String(load_default=None)
    owner_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    marketing_consent = fields.Boolean(load_default=None)
    created_from = UTCDateTime(load_default=None)
    created_to = UTCDateTime(load_default=None)
    updated_from = UTCDateTime(load_default=None)
    updated_to = UTCDateTime(load_default=None)


class CompanyQuerySchema(PageQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    owner_id = fields.String(load_default=None)
    department_id = fields.String(load_default=None)


class MergeRequestSchema(StrictSchema):
    source_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=20))


class MergeSchema(StrictSchema):
    """What a merge did: its id (to undo it), the target after it, and the values that conflicted."""

    merge_id = fields.String()
    target = fields.Nested(ContactSchema)
    source_ids = fields.List(fields.String())
    conflicts = fields.Dict()


class HistoryEntrySchema(StrictSchema):
    """One change of a record: who, when, what (`changes`: field -> [old, new] on updates)."""

    event_id = fields.String()
    type = fields.String()
    occurred_at = fields.String()
    actor = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True)
    source_ids = fields.List(fields.String())
    merge_id = fields.String()
    import_id = fields.String()  # the import that made the change
    undo = fields.Boolean()  # the change undid an import's


# The first line of an import's CSV as the OpenAPI document states it: `first_name` and the known
# columns (`rows.COLUMNS`), each at most once. The service takes them in any order, `;` too, and
# `attr.<key>` for each custom field; a pattern can say one order only, so it gives that one.
IMPORT_HEADER_PATTERN = (
    r"^first_name(,last_name)?(,emails)?(,phones)?(,tags)?(,company)?(,timezone)?(,marketing_consent)?\r?\n"
)
CONTACT_SORTS = ("created_at", "updated_at", "last_name", "first_name")
COMPANY_SORTS = ("created_at", "updated_at", "name")
