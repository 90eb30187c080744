"""Whose figures and plans each role sees: a manager their subtree, an agent their own, analysts all.

Company (d1) > Sales (d2) > Sales Berlin (d3), Company > Support (d4). Users: Sam (u2, Sales),
Bea (u3, Sales Berlin), Una (u4, Support).
"""

import pytest
from reporting_events import apply, contact_created, deal_history, department, response_recorded, user

from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.scope import Scope
from reporting.models import Base, OutboxEvent, Plan
from reporting.service import ReportingService

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
SALES_MANAGER = Scope("m2", "manager", "d2", ("d2", "d3"))
SUPPORT_MANAGER = Scope("m4", "manager", "d4", ("d4",))
BEA = Scope("u3", "agent", "d3", ("d3",))
ANALYST = Scope("an", "analyst", "d1", ("d1",))
ADMIN = Scope("ad", "admin", "d1", ("d1",))


@pytest.fixture
def reporting(workers):
    service = workers(ReportingService, Base, OutboxEvent)
    for each in (
        department("d1", "Company"),
        department("d2", "Sales", "d1"),
        department("d3", "Sales Berlin", "d2"),
        department("d4", "Support", "d1"),
        user("u2", "Sam", "d2"),
        user("u3", "Bea", "d3"),
        user("u4", "Una", "d4"),
        contact_created("2026-03-02T10:00:00+00:00", owner_id="u2", department_id="d2"),
        contact_created("2026-03-03T10:00:00+00:00", owner_id="u3", department_id="d3"),
        contact_created("2026-03-04T10:00:00+00:00", owner_id="u3", department_id=None),  # Bea's: Sales Berlin
        contact_created("2026-03-05T10:00:00+00:00", owner_id=None, department_id="d3"),  # shared in Berlin
        contact_created("2026-03-06T10:00:00+00:00", owner_id="u4", department_id="d4"),
        contact_created("2026-03-07T10:00:00+00:00", owner_id="u4", department_id=None),  # Una's: Support
    ):
        apply(service, each)
    return service


def contacts_created(reporting, scope, **query) -> int:
    report = reporting.as_(scope).kpis({**MARCH, "kpi": "contacts_created", **query})
    return report["kpis"]["contacts_created"]


def by_department(reporting, scope) -> dict:
    report = reporting.as_(scope).kpis({**MARCH, "kpi": "contacts_created", "group_by": "department"})
    return {group["key"]: group["kpis"]["contacts_created"] for group in report["groups"]}


def test_each_role_counts_exactly_the_records_it_may_see(reporting):
    assert contacts_created(reporting, ADMIN) == 6
    assert contacts_created(reporting, ANALYST) == 6
    assert contacts_created(reporting, Scope.system()) == 6  # a call for no user that says it sees everything
    assert contacts_created(reporting, None) == 0  # a call that carries no scope sees nothing
    assert contacts_created(reporting, SALES_MANAGER) == 4
    assert contacts_created(reporting, SUPPORT_MANAGER) == 2
    assert contacts_created(reporting, BEA) == 2  # her own, not the department's shared one


def test_a_manager_groups_by_department_within_their_subtree_only(reporting):
    assert by_department(reporting, SALES_MANAGER) == {"d2": 4, "d3": 3}
    assert by_department(reporting, ADMIN) == {"d1": 6, "d2": 4, "d3": 3, "d4": 2}
    assert by_department(reporting, BEA) == {"d3": 2}


def test_a_manager_narrows_to_a_department_or_user_below_them(reporting):
    assert contacts_created(reporting, SALES_MANAGER, department_id="d3") == 3
    assert contacts_created(reporting, SALES_MANAGER, user_id="u3") == 2
    assert contacts_created(reporting, BEA, user_id="u3") == 2


@pytest.mark.parametrize(
    "scope, query",
    [
        (SALES_MANAGER, {"department_id": "d4"}),
        (SALES_MANAGER, {"department_id": "d1"}),  # above them
        (SALES_MANAGER, {"user_id": "u4"}),
        (SALES_MANAGER, {"department_id": "nowhere"}),  # unknown reads exactly like hidden
        (BEA, {"department_id": "d2"}),
        (BEA, {"user_id": "u2"}),
    ],
)
def test_a_filter_outside_the_callers_scope_is_not_found(reporting, scope, query):
    with pytest.raises(NotFound):
        reporting.as_(scope).kpis({**MARCH, **query})
    with pytest.raises(NotFound):
        reporting.as_(scope).sla({**MARCH, **query})


def test_comparing_a_department_outside_the_scope_is_not_found(reporting):
    with pytest.raises(NotFound):
        reporting.as_(SALES_MANAGER).compare({**MARCH, "department_id": "d3,d4"})

    compared = reporting.as_(SALES_MANAGER).compare({**MARCH, "department_id": "d2,d3", "kpi": "contacts_created"})

    assert [row["values"] for row in compared["rows"] if row["kpi"] == "contacts_created"] == [[4, 3]]


def test_funnel_and_campaign_reports_count_the_callers_deals_and_responses_only(reporting):
    for each in (
        *deal_history("2026-03-02T09:00:00+00:00", [("won", "2026-03-09T09:00:00+00:00")], department_id="d3"),
        *deal_history("2026-03-02T09:00:00+00:00", [], department_id="d4"),
        response_recorded("sent", "2026-03-02T09:00:00+00:00", department_id="d3"),
        response_recorded("sent", "2026-03-02T09:00:00+00:00", department_id="d4"),
        response_recorded("opened", "2026-03-03T09:00:00+00:00", department_id="d4"),
    ):
        apply(reporting, each)

    funnel = reporting.as_(SALES_MANAGER).funnel(MARCH)
    campaigns = reporting.as_(SALES_MANAGER).campaigns(MARCH)

    assert funnel["stages"][0]["reached"] == 1
    assert (campaigns["total"]["responses"]["sent"], campaigns["total"]["responses"]["opened"]) == (1, 0)
    assert reporting.as_(ADMIN).funnel(MARCH)["stages"][0]["reached"] == 2


# -- plans ------------------------------------------------------------------------------------------


def plan(**fields):
    return {"metric": "contacts_created", "period": "2026-03", "value": "4"} | fields


@pytest.fixture
def plans(reporting):
    """One plan for each department and one for each user, set by the admin."""
    made = {}
    for target in ("d1", "d2", "d3", "d4"):
        made[target] = reporting.as_(ADMIN).create_plan(plan(department_id=target))
    for target in ("u2", "u3", "u4"):
        made[target] = reporting.as_(ADMIN).create_plan(plan(user_id=target))
    return made


def listed(reporting, scope) -> set:
    items = reporting.as_(scope).list_plans({"limit": 100})["items"]
    return {item.get("department_id") or item["user_id"] for item in items}


def test_each_role_lists_the_plans_it_may_see(reporting, plans):
    assert listed(reporting, ADMIN) == {"d1", "d2", "d3", "d4", "u2", "u3", "u4"}
    assert listed(reporting, ANALYST) == {"d1", "d2", "d3", "d4", "u2", "u3", "u4"}
    assert listed(reporting, SALES_MANAGER) == {"d2", "d3", "u2", "u3"}
    assert listed(reporting, BEA) == {"u3"}


def test_a_plan_outside_the_managers_scope_is_not_found_and_stays_unchanged(reporting, plans):
    support = plans["d4"]
    manager = reporting.as_(SALES_MANAGER)

    with pytest.raises(NotFound):
        manager.get_plan(support["id"])
    with pytest.raises(NotFound):
        manager.update_plan(support["id"], {"value": "99"})
    with pytest.raises(NotFound):
        manager.delete_plan(support["id"])

    after = reporting.as_(ADMIN).get_plan(support["id"])
    assert (after["value"], after["version"]) == (support["value"], support["version"])
    assert manager.update_plan(plans["u3"]["id"], {"value": "5"})["value"] == "5.0000"


@pytest.mark.parametrize(
    "target, field",
    [
        ({"department_id": "d4"}, "department_id"),
        ({"department_id": "d1"}, "department_id"),
        ({"user_id": "u4"}, "user_id"),
    ],
)
def test_a_manager_sets_no_target_outside_their_subtree(reporting, target, field):
    with pytest.raises(ValidationFailed) as refused:
        reporting.as_(SALES_MANAGER).create_plan(plan(**target))

    assert field in refused.value.errors
    assert reporting.rows(Plan) == [] and reporting.rows(OutboxEvent) == []


def test_a_manager_does_not_move_a_plan_out_of_their_subtree(reporting, plans):
    with pytest.raises(ValidationFailed) as refused:
        reporting.as_(SALES_MANAGER).update_plan(plans["d3"]["id"], {"department_id": "d4"})

    assert "department_id" in refused.value.errors
    assert reporting.as_(ADMIN).get_plan(plans["d3"]["id"])["department_id"] == "d3"


def test_plan_against_actual_shows_the_callers_plans_with_their_visible_actuals(reporting, plans):
    rows = reporting.as_(SALES_MANAGER).plan_vs_actual({"period": "2026-03"})["plans"]
    mine = reporting.as_(BEA).plan_vs_actual({"period": "2026-03"})["plans"]

    target = lambda row: row["plan"]["department_id"] or row["plan"]["user_id"]  # noqa: E731
    assert {target(row): row["actual"] for row in rows} == {"d2": 4, "d3": 3, "u2": 1, "u3": 2}
    assert [(target(row), row["actual"]) for row in mine] == [("u3", 2)]
    with pytest.raises(NotFound):
        reporting.as_(SALES_MANAGER).plan_vs_actual({"period": "2026-03", "department_id": "d4"})
