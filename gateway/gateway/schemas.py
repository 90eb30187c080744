"""The identity wire format: departments, users, tokens."""

import re

from marshmallow import ValidationError, fields, post_load, validate, validates

from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, TimeZone

ROLES = ("admin", "manager", "agent", "analyst")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DEFAULT_WORKING_HOURS = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]} | {"sat": [], "sun": []}
MIN_WEEKLY_MINUTES = 60


def check_working_hours(hours: dict) -> None:
    """Each weekday: a list of `[start, end]` intervals, HH:MM, start before end, not overlapping."""
    for day, intervals in hours.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
        if not isinstance(intervals, list):
            raise ValidationError(f"{day}: a list of [start, end] intervals")
        for interval in intervals:
            if not (isinstance(interval, list) and len(interval) == 2 and all(isinstance(t, str) for t in interval)):
                raise ValidationError(f'{day}: each interval is ["HH:MM", "HH:MM"]')
            if not all(HHMM.match(t) for t in interval):
                raise ValidationError(f"{day}: {interval} is not HH:MM")
        previous_end = ""
        for start, end in sorted(intervals):
            if start >= end:
                raise ValidationError(f"{day}: {start} is not before {end}")
            if start < previous_end:
                raise ValidationError(f"{day}: intervals overlap at {start}")
            previous_end = end
    weekly = sum(_minutes(end) - _minutes(start) for intervals in hours.values() for start, end in intervals)
    if 0 < weekly < MIN_WEEKLY_MINUTES:  # SLA clocks would need years of weeks to run a target down
        raise ValidationError(f"at least {MIN_WEEKLY_MINUTES} working minutes a week (or none: the clock runs always)")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


INTERVAL = {
    "type": "array",
    "items": {"type": "string", "pattern": HHMM.pattern},
    "minItems": 2,
    "maxItems": 2,
}
# How the OpenAPI document states `check_working_hours` (order and overlaps are in the description).
WORKING_HOURS = {
    "description": "per weekday a list of [start, end] intervals in HH:MM, start before end, not overlapping; "
    f"at least {MIN_WEEKLY_MINUTES} minutes a week, or none",
    "properties": {day: {"type": "array", "items": INTERVAL} for day in WEEKDAYS},
    "additionalProperties": False,
}


class DepartmentSchema(EntitySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    parent_id = fields.String(allow_none=True, load_default=None)
    timezone = TimeZone(load_default="UTC")
    working_hours = fields.Dict(load_default=lambda: dict(DEFAULT_WORKING_HOURS), metadata=WORKING_HOURS)

    @validates("working_hours")
    def _working_hours(self, value, **kwargs):
        check_working_hours(value)

    @post_load
    def complete_week(self, data, **kwargs):
        if "working_hours" in data:
            data["working_hours"] = {day: sorted(data["working_hours"].get(day, [])) for day in WEEKDAYS}
        return data


class UserSchema(EntitySchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    department_id = fields.String(allow_none=True, load_default=None)
    timezone = TimeZone(load_default="UTC")
    active = fields.Boolean(dump_only=True)
    password = fields.String(load_only=True, required=True, validate=validate.Length(min=12, max=200))

    @post_load
    def lower_email(self, data, **kwargs):
        if "email" in data:
            data["email"] = data["email"].strip().lower()
        return data


class TokenRequestSchema(StrictSchema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class IdentityQuerySchema(PageQuerySchema):
    sort = fields.String(load_default="created_at")
