"""Marshmallow base schemas: the wire format of every resource starts here."""

from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzdata
from marshmallow import RAISE, Schema, ValidationError, fields, missing, pre_load, validate

from crm_kernel.errors import ValidationFailed


class UTCDateTime(fields.AwareDateTime):
    """An ISO 8601 time that must carry its offset; stored and returned in UTC."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


ID_LENGTH = 32


def fields_with_nul(data, path: str = "") -> list[str]:
    """The dotted paths of every string in `data` that holds a NUL character (a key: its object's path)."""
    if isinstance(data, str):
        return [path or "_schema"] if "\x00" in data else []
    if isinstance(data, dict):
        if any(isinstance(key, str) and "\x00" in key for key in data):
            return [path or "_schema"]
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return []
    return [found for key, value in items for found in fields_with_nul(value, f"{path}.{key}" if path else str(key))]


class StrictSchema(Schema):
    """Refuses unknown fields, so a typo in a field name is an error, not silently ignored.

    Also refuses NUL characters anywhere: PostgreSQL cannot store them in text, and no field needs one.
    """

    class Meta:
        unknown = RAISE

    @pre_load
    def refuse_nul_characters(self, data, **kwargs):
        paths = fields_with_nul(data)
        if paths:
            raise ValidationError({path.split(".")[0]: [f"{path}: NUL characters are not allowed"] for path in paths})
        return data

    @pre_load
    def refuse_impossible_ids(self, data, **kwargs):
        """Ids are at most 32 characters everywhere (`crm_kernel.db.new_id`); a longer one names nothing.

        Report filters take several ids separated by commas: each of them is checked.
        """
        if isinstance(data, dict):
            too_long = [
                name
                for name, value in data.items()
                if isinstance(name, str)
                and (name == "id" or name.endswith("_id"))
                and isinstance(value, str)
                and any(len(part) > ID_LENGTH for part in value.split(","))
            ]
            if too_long:
                raise ValidationError({name: [f"not an id: longer than {ID_LENGTH} characters"] for name in too_long})
        return data


class EntitySchema(StrictSchema):
    """Fields every entity carries on the wire."""

    id = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True, default_timezone=UTC)
    updated_at = fields.AwareDateTime(dump_only=True, default_timezone=UTC)


# Field classes whose serialization returns a value of these exact types unchanged (None too), as long
# as the class does not override it: `dump_rows` then copies such values without calling marshmallow.
_UNCHANGED = ((fields.String, (str,)), (fields.Integer, (int,)), (fields.Boolean, (bool,)))
_MISSING = object()


def _unchanged_types(field: fields.Field) -> tuple | None:
    for cls, types in _UNCHANGED:
        if isinstance(field, cls) and type(field)._serialize is cls._serialize:
            if isinstance(field, fields.Number) and field.as_string:
                return None
            return types
    return None


def _converter(field: fields.Field):
    """A function of a value to what `field` serializes it to, for the values whose serialization is
    known without marshmallow, None excepted (None when it knows of none): a copy of a list of
    `_UNCHANGED` values or of a dict with text keys, an ISO time's function; `_MISSING` for a value it
    does not know. (`_UNCHANGED` values need none.)"""
    if isinstance(field, fields.List) and type(field)._serialize is fields.List._serialize:
        inner = _unchanged_types(field.inner)
        if inner is not None:
            return lambda value: list(value) if all(type(v) in inner for v in value) else _MISSING
    if type(field) is fields.Dict and field.value_field is None:
        keys = (str,) if field.key_field is None else _unchanged_types(field.key_field)
        if keys is not None:
            return lambda value: dict(value) if all(type(k) in keys for k in value) else _MISSING
    if isinstance(field, fields.DateTime) and type(field)._serialize is fields.DateTime._serialize:
        to_text = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        if to_text is not None:
            return lambda value: to_text(value) if isinstance(value, datetime) else _MISSING
    return None


_plans: dict[type, tuple] = {}


def _dump_plan(schema_cls: type[Schema]) -> tuple:
    if schema_cls not in _plans:
        schema = schema_cls()
        dumps_itself = any(hooks for tag, hooks in schema._hooks.items() if "dump" in str(tag))
        steps = tuple(
            (
                name,
                field.data_key if field.data_key is not None else name,
                field,
                _unchanged_types(field),
                _converter(field),
            )
            for name, field in schema.dump_fields.items()
        )
        _plans[schema_cls] = (schema, None if dumps_itself else steps)
    return _plans[schema_cls]


def dump_rows(schema_cls: type[Schema], rows) -> list[dict]:
    """`schema_cls(many=True).dump(rows)` for rows that are mappings (a page read without the ORM):
    the same dicts, key for key and in the schema's order, at a fraction of marshmallow's cost.

    The schema stays the one wire format: keys, order and formats come from its fields; a field's
    value is copied or formatted here only where its class's serialization is known to give exactly
    that (`_converter`), and any other field or value goes through the field itself. A schema with
    dump hooks dumps itself.
    """
    schema, steps = _dump_plan(schema_cls)
    if steps is None:
        return schema_cls(many=True).dump(rows)
    dumped = []
    for row in rows:
        item = {}
        for name, key, field, unchanged, convert in steps:
            value = row.get(name, _MISSING)
            if value is None and (unchanged or convert):
                pass  # every field this copies or converts serializes None as None
            elif unchanged is not None:
                if type(value) not in unchanged:
                    value = _MISSING
            elif convert is not None and value is not _MISSING:
                value = convert(value)
            else:
                value = _MISSING
            if value is _MISSING:
                value = field.serialize(name, row, accessor=schema.get_attribute)
                if value is missing:
                    continue
            item[key] = value
        dumped.append(item)
    return dumped


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)
    sort = fields.String(load_default="-created_at")


def load(schema: Schema, data, **kwargs):
    """Validate `data` with `schema`, raising `ValidationFailed` that names every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("the request body must be a JSON object", {"_schema": ["not an object"]})
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        fields_ = ", ".join(sorted(exc.messages)) if isinstance(exc.messages, dict) else ""
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(f"invalid fields: {fields_}", errors) from None


def _zone_names() -> tuple[str, ...]:
    # The pinned `tzdata` package's list, not the host's database: what is accepted is what the
    # OpenAPI document lists, on every machine (hosts add names such as `posix/...` and `localtime`).
    return tuple(sorted(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()))


TIME_ZONES = _zone_names()
# The `TimeZone` component of every contract and of the OpenAPI document: one list, referenced.
TIME_ZONE_COMPONENT = {
    "type": "string",
    "description": f"an IANA time zone name such as Europe/Berlin (tzdata {tzdata.IANA_VERSION})",
    "enum": list(TIME_ZONES),
}
_ZONE_SET = frozenset(TIME_ZONES)


def valid_timezone(name: str) -> bool:
    """An IANA time zone name such as `Europe/Berlin`, one of `TIME_ZONES`."""
    if name not in _ZONE_SET:
        raise ValidationError(f"unknown IANA time zone {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # listed, yet not loadable: say so, never a 500
        raise ValidationError(f"unknown IANA time zone {name!r}") from None
    return True


class TimeZone(fields.String):
    """An IANA time zone name, one of the zone database's (`TIME_ZONES`); described by the contracts as
    a reference to the `TimeZone` component."""

    component = "TimeZone"

    def __init__(self, **kwargs):
        super().__init__(validate=valid_timezone, **kwargs)
