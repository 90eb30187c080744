"""Marshmallow base schemas: the wire format of every resource starts here."""

from datetime import UTC
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzdata
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

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
