"""The query every report takes: a period of local days in a time zone."""

from datetime import date

import pytest

from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from reporting.schemas import MAX_PERIOD_DAYS, ReportQuerySchema


def load_query(**query):
    return load(ReportQuerySchema(), query)


def test_a_period_is_read_from_from_and_to_in_the_zone_asked_for():
    params = load_query(**{"from": "2026-03-01", "to": "2026-03-31", "tz": "Europe/Berlin"})

    assert (params["from_"], params["to"], params["tz"]) == (date(2026, 3, 1), date(2026, 3, 31), "Europe/Berlin")


def test_a_period_may_be_a_single_day():
    params = load_query(**{"from": "2026-03-29", "to": "2026-03-29"})

    assert params["from_"] == params["to"] == date(2026, 3, 29)


def test_to_before_from_is_refused_naming_to():
    with pytest.raises(ValidationFailed) as refused:
        load_query(**{"from": "2026-03-31", "to": "2026-03-01"})

    assert list(refused.value.errors) == ["to"]


def test_an_unknown_time_zone_is_refused_naming_tz():
    with pytest.raises(ValidationFailed) as refused:
        load_query(**{"from": "2026-03-01", "to": "2026-03-31", "tz": "Berlin"})

    assert list(refused.value.errors) == ["tz"]


def test_a_period_longer_than_the_maximum_is_refused_naming_to():
    with pytest.raises(ValidationFailed) as refused:
        load_query(**{"from": "2020-01-01", "to": "2026-01-01"})

    assert list(refused.value.errors) == ["to"]


def test_a_period_of_exactly_the_maximum_is_accepted():
    start = date(2020, 1, 1)
    end = date.fromordinal(start.toordinal() + MAX_PERIOD_DAYS)

    assert load_query(**{"from": start.isoformat(), "to": end.isoformat()})["to"] == end
