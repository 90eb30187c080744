"""Plan periods: a month (`2026-03`), an ISO week (`2026-W14`), a quarter (`2026-Q2`) or a year (`2026`)."""

import re
from datetime import date, timedelta

from marshmallow import ValidationError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def period_dates(period: str) -> tuple[date, date]:
    """The first and last calendar day of `period` (days, to be read in the report's time zone)."""
    year = period[:4]
    if year.isascii() and year.isdigit() and not 1970 <= int(year) <= 2999:
        raise ValidationError("a period in the years 1970 to 2999")
    if match := _MONTH.match(period):
        year, month = int(match[1]), int(match[2])
        following = date(year + month // 12, month % 12 + 1, 1)
        return date(year, month, 1), following - timedelta(days=1)
    if match := _WEEK.match(period):
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValidationError(f"{period} has no such ISO week") from None
        return monday, monday + timedelta(days=6)
    if match := _QUARTER.match(period):
        year, quarter = int(match[1]), int(match[2])
        first = date(year, 3 * quarter - 2, 1)
        following = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1)
        return first, following - timedelta(days=1)
    if match := _YEAR.match(period):
        return date(int(match[1]), 1, 1), date(int(match[1]), 12, 31)
    raise ValidationError("a month (2026-03), ISO week (2026-W14), quarter (2026-Q2) or year (2026)")
