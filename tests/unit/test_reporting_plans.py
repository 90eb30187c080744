"""Plans: targets per department or user and period, plan against actual, and comparisons."""

import base64

import pytest
from reporting_events import apply, contact_created, deal_history, department

from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed
from reporting.models import Base, OutboxEvent, Plan
from reporting.periods import period_dates
from reporting.service import ReportingService


@pytest.fixture
def reporting(workers):
    service = workers(ReportingService, Base, OutboxEvent)
    for each in (department("d1", "Company"), department("d2", "Sales", "d1"), department("d3", "Support", "d1")):
        apply(service, each)
    return service


def plan(**fields):
    return {"metric": "contacts_created", "period": "2026-03", "department_id": "d1", "value": "4"} | fields


def test_a_plan_is_created_with_a_plan_created_event(reporting):
    created = reporting.create_plan(plan())

    assert (created["metric"], created["period"], created["value"], created["version"]) == (
        "contacts_created",
        "2026-03",
        "4.0000",
        1,
    )
    assert [(row.type, row.payload["entity"]["id"]) for row in reporting.rows(OutboxEvent)] == [
        ("plan.created", created["id"])
    ]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"metric": "happiness"}, "metric"),
        ({"metric": "first_response_time"}, "metric"),
        ({"period": "March"}, "period"),
        ({"value": "-1"}, "value"),
        ({"user_id": "u7"}, "department_id"),
        ({"metric": "won_amount"}, "currency"),
        ({"metric": "sla_compliance", "value": "95"}, "value"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field_and_nothing_is_written(reporting, fields, field):
    with pytest.raises(ValidationFailed) as refused:
        reporting.create_plan(plan(**fields))

    assert field in refused.value.errors
    assert reporting.rows(Plan) == [] and reporting.rows(OutboxEvent) == []


def test_a_plan_is_changed_only_at_the_version_read(reporting):
    created = reporting.create_plan(plan())

    changed = reporting.update_plan(created["id"], {"value": "6"}, 1)
    with pytest.raises(PreconditionFailed):
        reporting.update_plan(created["id"], {"value": "8"}, 1)

    assert (changed["value"], changed["version"]) == ("6.0000", 2)
    assert [row.type for row in reporting.rows(OutboxEvent, OutboxEvent.id)] == ["plan.created", "plan.updated"]


def test_a_deleted_plan_is_gone_from_reads_and_lists(reporting):
    created = reporting.create_plan(plan())

    reporting.delete_plan(created["id"])

    with pytest.raises(NotFound):
        reporting.get_plan(created["id"])
    assert reporting.list_plans({})["items"] == []


def test_plans_are_listed_by_period(reporting):
    reporting.create_plan(plan(period="2026-03"))
    reporting.create_plan(plan(period="2026-Q2"))

    assert [item["period"] for item in reporting.list_plans({"period": "2026-Q2"})["items"]] == ["2026-Q2"]


def test_plan_periods_are_months_iso_weeks_quarters_and_years():
    assert [d.isoformat() for d in period_dates("2026-02")] == ["2026-02-01", "2026-02-28"]
    assert [d.isoformat() for d in period_dates("2026-12")] == ["2026-12-01", "2026-12-31"]
    assert [d.isoformat() for d in period_dates("2026-W14")] == ["2026-03-30", "2026-04-05"]
    assert [d.isoformat() for d in period_dates("2026-Q4")] == ["2026-10-01", "2026-12-31"]
    assert [d.isoformat() for d in period_dates("2026")] == ["2026-01-01", "2026-12-31"]


def test_plan_against_actual_gives_the_share_reached(reporting):
    for each in (
        contact_created("2026-03-02T10:00:00+00:00", department_id="d2"),
        contact_created("2026-03-03T10:00:00+00:00", department_id="d2"),
        contact_created("2026-03-31T22:30:00+00:00", department_id="d3"),  # 1 April in Berlin
        *deal_history("2026-03-02T09:00:00+00:00", [("won", "2026-03-20T09:00:00+00:00")], department_id="d2"),
    ):
        apply(reporting, each)
    reporting.create_plan(plan())  # the whole company: 4 contacts
    reporting.create_plan(plan(metric="won_amount", currency="EUR", value="4000", department_id="d2"))
    reporting.create_plan(plan(period="2026-04"))

    report = reporting.plan_vs_actual({"period": "2026-03", "tz": "Europe/Berlin"})

    assert [(row["plan"]["metric"], row["actual"], row["percentage"]) for row in report["plans"]] == [
        ("contacts_created", 2, 50.0),
        ("won_amount", "1000.00", 25.0),
    ]
    in_utc = reporting.plan_vs_actual({"period": "2026-03"})
    assert in_utc["plans"][0]["percentage"] == 75.0


def test_two_periods_side_by_side_with_their_differences(reporting):
    for day in ("2026-03-02", "2026-03-03", "2026-04-02", "2026-04-03", "2026-04-04"):
        apply(reporting, contact_created(f"{day}T10:00:00+00:00", department_id="d2"))

    report = reporting.compare(
        {
            "from": "2026-03-01",
            "to": "2026-03-31",
            "compare_from": "2026-04-01",
            "compare_to": "2026-04-30",
            "kpi": "contacts_created,deals_won",
        }
    )

    assert [column["from"] for column in report["columns"]] == ["2026-03-01", "2026-04-01"]
    assert report["rows"] == [
        {"kpi": "contacts_created", "values": [2, 3], "difference": [None, 1], "relative": [None, 0.5]},
        {"kpi": "deals_won", "values": [0, 0], "difference": [None, 0], "relative": [None, None]},
    ]


def test_departments_side_by_side_include_those_below_them(reporting):
    for department_id in ("d2", "d2", "d3", "d3", "d3", "d3"):
        apply(reporting, contact_created("2026-03-02T10:00:00+00:00", department_id=department_id))

    report = reporting.compare(
        {"from": "2026-03-01", "to": "2026-03-31", "department_id": "d2,d1", "kpi": "contacts_created"}
    )

    assert [column["label"] for column in report["columns"]] == ["Sales", "Company"]
    assert report["rows"] == [
        {"kpi": "contacts_created", "values": [2, 6], "difference": [None, 4], "relative": [None, 2.0]}
    ]


@pytest.mark.parametrize("output", ["csv", "png"])
def test_plan_against_actual_and_comparisons_render_as_csv_and_png(reporting, output):
    apply(reporting, contact_created("2026-03-02T10:00:00+00:00", department_id="d2"))
    reporting.create_plan(plan())

    planned = reporting.plan_vs_actual({"period": "2026-03", "format": output})["rendered"]
    compared = reporting.compare({"department_id": "d1,d2", "format": output, **MARCH_QUERY})["rendered"]

    assert planned["filename"] == f"plan-vs-actual.{output}" and compared["filename"] == f"compare.{output}"
    assert base64.b64decode(planned["base64"]) and base64.b64decode(compared["base64"])


MARCH_QUERY = {"from": "2026-03-01", "to": "2026-03-31"}
