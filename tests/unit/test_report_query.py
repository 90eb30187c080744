"""The query every report takes: a period of local days in a time zone, and what it may be grouped by."""

from datetime import date

import pytest

from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from reporting.schemas import CompareQuerySchema, PlanVsActualQuerySchema, ReportQuerySchema


def load_query(**query):
    return load(ReportQuerySchema(), query)


def refused_fields(schema, **query) -> list:
    with pytest.raises(ValidationFailed) as refused:
        load(schema, query)
    return list(refused.value.errors)


def test_a_period_is_read_from_from_and_to_in_the_zone_asked_for():
    params = load_query(**{"from": "2026-03-01", "to": "2026-03-31", "tz": "Europe/Berlin"})

    assert (params["from_"], params["to"], params["tz"]) == (date(2026, 3, 1), date(2026, 3, 31), "Europe/Berlin")


def test_a_period_may_be_a_single_day():
    params = load_query(**{"from": "2026-03-29", "to": "2026-03-29"})

    assert params["from_"] == params["to"] == date(2026, 3, 29)


def test_kpis_are_chosen_by_a_comma_separated_list():
    assert load_query(kpi="contacts_created, deals_won")["kpi"] == ["contacts_created", "deals_won"]


def test_to_before_from_is_refused_naming_to():
    assert refused_fields(ReportQuerySchema(), **{"from": "2026-03-31", "to": "2026-03-01"}) == ["to"]


def test_an_unknown_time_zone_is_refused_naming_tz():
    assert refused_fields(ReportQuerySchema(), **{"from": "2026-03-01", "to": "2026-03-31", "tz": "Berlin"}) == ["tz"]


def test_an_unknown_grouping_kpi_or_format_is_refused_naming_it():
    assert refused_fields(ReportQuerySchema(), group_by="year") == ["group_by"]
    assert refused_fields(ReportQuerySchema(), kpi="contacts_created,happiness") == ["kpi"]
    assert refused_fields(ReportQuerySchema(), format="xlsx") == ["format"]


def test_days_may_span_a_year_and_no_more():
    assert load_query(**{"from": "2024-01-01", "to": "2024-12-31", "group_by": "day"})["group_by"] == "day"
    assert refused_fields(ReportQuerySchema(), **{"from": "2024-01-01", "to": "2025-01-01", "group_by": "day"}) == [
        "to"
    ]


def test_weeks_may_span_five_years_and_months_ten():
    assert refused_fields(ReportQuerySchema(), **{"from": "2020-01-01", "to": "2025-01-31", "group_by": "week"}) == [
        "to"
    ]
    assert load_query(**{"from": "2020-01-01", "to": "2025-01-31", "group_by": "month"})["group_by"] == "month"
    assert refused_fields(ReportQuerySchema(), **{"from": "2010-01-01", "to": "2025-01-31"}) == ["to"]


def test_a_comparison_needs_a_second_period_or_several_departments_or_users():
    assert refused_fields(CompareQuerySchema(), **{"from": "2026-03-01", "to": "2026-03-31"}) == ["compare_from"]
    assert refused_fields(CompareQuerySchema(), compare_from="2026-02-01") == ["compare_to"]
    assert refused_fields(CompareQuerySchema(), compare_from="2026-02-10", compare_to="2026-02-01") == ["compare_to"]
    assert load(CompareQuerySchema(), {"department_id": "d1,d2"})["department_id"] == ["d1", "d2"]


def test_a_plan_period_must_be_a_month_week_quarter_or_year():
    assert refused_fields(PlanVsActualQuerySchema(), period="March") == ["period"]
    assert refused_fields(PlanVsActualQuerySchema(), period="2026-W54") == ["period"]
    assert load(PlanVsActualQuerySchema(), {"period": "2026-Q2"})["period"] == "2026-Q2"


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1969-12-31", "3000-01-01"])
def test_a_day_outside_1970_to_2999_is_refused_naming_it(day):
    assert refused_fields(ReportQuerySchema(), **{"from": day, "to": day}) == ["from", "to"]
    assert "compare_from" in refused_fields(
        CompareQuerySchema(), **{"from": "2026-01-01", "to": "2026-01-02", "compare_from": day, "compare_to": day}
    )


@pytest.mark.parametrize("period", ["9999-12", "9999-Q4", "9999", "9999-W52", "0001-01"])
def test_a_plan_period_outside_the_supported_years_is_refused(period):
    assert refused_fields(PlanVsActualQuerySchema(), period=period) == ["period"]


def test_compared_ids_are_counted_once_and_at_most_twenty():
    params = load(CompareQuerySchema(), {"department_id": ",".join(["d1", "d2"] * 500)})
    assert params["department_id"] == ["d1", "d2"]
    many = ",".join(f"u{n}" for n in range(21))
    assert refused_fields(CompareQuerySchema(), user_id=many) == ["user_id"]
    assert load(CompareQuerySchema(), {"user_id": ",".join(f"u{n}" for n in range(20))})["user_id"][19] == "u19"
