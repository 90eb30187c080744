"""The reporting wire format."""

from datetime import date, timedelta

from marshmallow import ValidationError, fields, validates_schema

from crm_kernel.schemas import StrictSchema, TimeZone

MAX_PERIOD_DAYS = 366 * 5


class ReportQuerySchema(StrictSchema):
    from_ = fields.Date(data_key="from", load_default=lambda: date.today() - timedelta(days=29))
    to = fields.Date(load_default=date.today)
    tz = TimeZone(load_default="UTC")
    department_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    format = fields.String(load_default="json")

    @validates_schema
    def check_period(self, data, **kwargs):
        if data["to"] < data["from_"]:
            raise ValidationError("`to` is before `from`", "to")
        if (data["to"] - data["from_"]).days > MAX_PERIOD_DAYS:
            raise ValidationError(f"the period is longer than {MAX_PERIOD_DAYS} days", "to")
