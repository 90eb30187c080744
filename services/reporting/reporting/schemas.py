"""The reporting wire format: report queries, plans."""

from datetime import date, timedelta

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from crm_kernel.schemas import EntitySchema, PageQuerySchema, StrictSchema, TimeZone
from reporting.kpis import COUNT_KPIS, GROUPINGS, KPIS, MAX_DAYS
from reporting.periods import period_dates

FORMATS = ("json", "csv", "png")
# A month, ISO week, quarter or year of 1970-2999, as the OpenAPI document states it (period_dates decides).
PERIOD_ERROR = "a month (2026-03), ISO week (2026-W14), quarter (2026-Q2) or year (2026), from 1970 to 2999"
PERIOD_PATTERN = r"^(19[7-9]\d|2\d{3})(-(0[1-9]|1[0-2])|-W(0[1-9]|[1-4]\d|5[0-3])|-Q[1-4])?$"
PLANNABLE = (*COUNT_KPIS, "won_amount", "sla_compliance")


class CommaList(fields.String):
    """`a,b,c` in a query string, as a list of non-empty names (optionally each one of `choices`)."""

    def __init__(self, choices: tuple | None = None, max_names: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices
        self.max_names = max_names

    def _deserialize(self, value, attr, data, **kwargs):
        listed = [name.strip() for name in super()._deserialize(value, attr, data, **kwargs).split(",")]
        if not all(listed):
            raise ValidationError("a comma-separated list of names, none empty")
        names = list(dict.fromkeys(listed))  # each once, in the order given
        if self.max_names is not None and len(names) > self.max_names:
            raise ValidationError(f"at most {self.max_names} different names")
        unknown = [name for name in names if self.choices and name not in self.choices]
        if unknown:
            raise ValidationError(f"unknown {', '.join(unknown)}; choose from {', '.join(self.choices)}")
        return names


EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)
MAX_COMPARED = 20


class ReportDate(fields.Date):
    """A day from 1970 to 2999: reports count days past the last one, which `date.max` has not."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= day <= LATEST:
            raise ValidationError(f"a day from {EARLIEST} to {LATEST}")
        return day


class PeriodQuerySchema(StrictSchema):
    """A period of local days in a time zone, narrowed to a department (and those below it) or a user."""

    from_ = ReportDate(data_key="from", load_default=lambda: date.today() - timedelta(days=29))
    to = ReportDate(load_default=date.today)
    tz = TimeZone(load_default="UTC")
    department_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    group_by = fields.String(load_default=None, validate=validate.OneOf(GROUPINGS))
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))

    @validates_schema
    def check_period(self, data, **kwargs):
        if data["to"] < data["from_"]:
            raise ValidationError("`to` is before `from`", "to")
        days = (data["to"] - data["from_"]).days + 1
        limit = MAX_DAYS[data.get("group_by")]
        if days > limit:
            grouping = f"group_by={data['group_by']}" if data.get("group_by") else "a report"
            raise ValidationError(f"{days} days is too long for {grouping}; at most {limit} days", "to")


class ReportQuerySchema(PeriodQuerySchema):
    kpi = CommaList(choices=KPIS, data_key="kpi", load_default=None)


class CompareQuerySchema(ReportQuerySchema):
    """Two periods (`from`-`to` against `compare_from`-`compare_to`), or several departments or users."""

    compare_from = ReportDate(load_default=None)
    compare_to = ReportDate(load_default=None)
    department_id = CommaList(load_default=None, max_names=MAX_COMPARED)
    user_id = CommaList(load_default=None, max_names=MAX_COMPARED)

    @validates_schema
    def check_sides(self, data, **kwargs):
        periods = data.get("compare_from") is not None or data.get("compare_to") is not None
        departments, users = len(data.get("department_id") or ()), len(data.get("user_id") or ())
        if periods:
            if data.get("compare_from") is None or data.get("compare_to") is None:
                raise ValidationError("give both compare_from and compare_to", "compare_to")
            if data["compare_to"] < data["compare_from"]:
                raise ValidationError("`compare_to` is before `compare_from`", "compare_to")
            if departments > 1 or users > 1:
                raise ValidationError("compare two periods or several departments, not both", "department_id")
        elif departments < 2 and users < 2:
            raise ValidationError(
                "give compare_from and compare_to, or two or more ids in department_id or user_id", "compare_from"
            )
        elif departments and users:
            raise ValidationError("compare departments or users, not both", "user_id")


class PlanVsActualQuerySchema(StrictSchema):
    period = fields.String(required=True, validate=validate.Regexp(PERIOD_PATTERN, error=PERIOD_ERROR))
    tz = TimeZone(load_default="UTC")
    department_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))

    @validates("period")
    def check_period(self, value, **kwargs):
        period_dates(value)


NULL = {"nullable": True, "enum": [None]}  # in a rule of the OpenAPI document: absent or null
SHARE_PATTERN = r"^(0(\.\d{1,4})?|1(\.0{1,4})?)$"  # a share from 0 to 1


def _not_negative(value) -> bool:
    # A validator function rather than Range: the OpenAPI document needs a numeric minimum, not "0.0000".
    if value < 0:
        raise ValidationError("must be 0 or more")
    return True


class PlanSchema(EntitySchema):
    """A target: `value` of `metric` for `department_id` (with those below it) or `user_id`, over `period`
    (`2026-03`, `2026-W14`, `2026-Q2` or `2026`)."""

    metric = fields.String(required=True, validate=validate.OneOf(PLANNABLE))
    period = fields.String(required=True, validate=validate.Regexp(PERIOD_PATTERN, error=PERIOD_ERROR))
    department_id = fields.String(load_default=None, allow_none=True)
    user_id = fields.String(load_default=None, allow_none=True)
    currency = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    value = fields.Decimal(
        required=True,
        as_string=True,
        places=4,
        validate=lambda value: _not_negative(value),
        # How the OpenAPI document states "0 or more": a decimal string (a number is accepted too).
        metadata={"type": "string", "pattern": r"^\d{1,15}(\.\d{1,4})?$"},
    )
    # How the OpenAPI document states `check_plan_target`, for a whole plan (a change is checked
    # merged with the stored plan, which no document can say).
    openapi_rules = {
        "allOf": [
            {
                "anyOf": [
                    {
                        "properties": {"department_id": {"type": "string", "minLength": 1}, "user_id": NULL},
                        "required": ["department_id"],
                    },
                    {
                        "properties": {"user_id": {"type": "string", "minLength": 1}, "department_id": NULL},
                        "required": ["user_id"],
                    },
                ]
            },
            {
                "anyOf": [
                    {
                        "properties": {"metric": {"enum": ["won_amount"]}, "currency": {"type": "string"}},
                        "required": ["currency"],
                    },
                    {
                        "properties": {
                            "metric": {"enum": ["sla_compliance"]},
                            "currency": NULL,
                            "value": {"pattern": SHARE_PATTERN},
                        }
                    },
                    {
                        "properties": {
                            "metric": {"enum": [m for m in PLANNABLE if m not in ("won_amount", "sla_compliance")]},
                            "currency": NULL,
                        }
                    },
                ]
            },
        ]
    }

    @validates("period")
    def check_period(self, value, **kwargs):
        period_dates(value)


class PlanQuerySchema(PageQuerySchema):
    period = fields.String(load_default=None)
    department_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    metric = fields.String(load_default=None)


def check_plan_target(plan: dict) -> dict | None:
    """Per-field errors of a whole plan (after a partial update too), or None when it is consistent."""
    errors = {}
    if bool(plan.get("department_id")) == bool(plan.get("user_id")):
        errors["department_id"] = ["give exactly one of department_id and user_id"]
    if plan.get("metric") == "won_amount" and not plan.get("currency"):
        errors["currency"] = ["required for won_amount"]
    if plan.get("metric") != "won_amount" and plan.get("currency"):
        errors["currency"] = ["only for won_amount"]
    if plan.get("metric") == "sla_compliance" and plan.get("value") is not None and plan["value"] > 1:
        errors["value"] = ["a share between 0 and 1"]
    return errors or None
