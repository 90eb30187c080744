"""The reporting service fed known event sequences: every KPI against values computed by hand."""

import random

import pytest
from reporting_events import (
    apply,
    contact_created,
    deal_history,
    department,
    event,
    interaction_created,
    response_recorded,
    task,
    ticket,
    user,
)
from sqlalchemy.orm import Session

from reporting.models import Base, Fact, OutboxEvent, ProcessedEvent
from reporting.rebuild import clear_read_models
from reporting.service import ReportingService

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def reporting(workers):
    return workers(ReportingService, Base, OutboxEvent)


def feed(reporting, *events):
    for each in events:
        apply(reporting, each)


def kpis(reporting, **query):
    return reporting.kpis({**MARCH, **query})


def tickets_of_march():
    """t1 met its SLA; t2 was resolved late; t3 breached it, unresolved; t4 got no answer yet."""
    t1 = ticket(
        "2026-03-02T09:00:00+00:00",
        first_response_at="2026-03-02T09:10:00+00:00",
        resolved_at="2026-03-02T11:00:00+00:00",
        sla_due_at="2026-03-02T17:00:00+00:00",
    )
    t2 = ticket(
        "2026-03-03T09:00:00+00:00",
        first_response_at="2026-03-03T10:00:00+00:00",
        resolved_at="2026-03-04T09:00:00+00:00",
        sla_due_at="2026-03-03T17:00:00+00:00",
    )
    t3 = ticket(
        "2026-03-04T09:00:00+00:00",
        first_response_at="2026-03-04T09:30:00+00:00",
        sla_due_at="2026-03-04T17:00:00+00:00",
    )
    t4 = ticket("2026-03-05T09:00:00+00:00")
    opened = [
        event("ticket.created", t | {"first_response_at": None, "resolved_at": None}, t["created_at"])
        for t in (t1, t2, t3, t4)
    ]
    return [
        *opened,
        event("ticket.updated", t1, "2026-03-02T11:00:00+00:00"),
        event("ticket.transitioned", t2, "2026-03-04T09:00:00+00:00", from_status="open", to_status="resolved"),
        event("ticket.commented", t3, "2026-03-04T09:30:00+00:00"),
        event("ticket.sla_breached", t3, "2026-03-04T17:00:05+00:00", breached_at="2026-03-04T17:00:00+00:00"),
    ]


def deals_of_march():
    """A: lead, qualified, proposal, won (1000 EUR); B: lead, qualified, lost; C: lead; D: lead,
    proposal (skipping qualified), won (250.50 USD). All moves at 09:00 UTC."""
    return [
        *deal_history(
            "2026-03-02T09:00:00+00:00",
            [
                ("qualified", "2026-03-03T09:00:00+00:00"),
                ("proposal", "2026-03-05T09:00:00+00:00"),
                ("won", "2026-03-10T09:00:00+00:00"),
            ],
        ),
        *deal_history(
            "2026-03-02T09:00:00+00:00",
            [("qualified", "2026-03-04T09:00:00+00:00"), ("lost", "2026-03-06T09:00:00+00:00")],
        ),
        *deal_history("2026-03-03T09:00:00+00:00", []),
        *deal_history(
            "2026-03-04T09:00:00+00:00",
            [("proposal", "2026-03-05T09:00:00+00:00"), ("won", "2026-03-06T09:00:00+00:00")],
            amount="250.50",
            currency="USD",
        ),
    ]


def test_interactions_count_by_channel_and_direction(reporting):
    feed(
        reporting,
        interaction_created("2026-03-02T10:00:00+00:00", "call", "inbound"),
        interaction_created("2026-03-03T10:00:00+00:00", "call", "outbound"),
        interaction_created("2026-03-04T10:00:00+00:00", "email", "outbound"),
    )

    report = kpis(reporting, kpi="interactions")

    assert report["kpis"] == {"interactions": 3}
    assert report["breakdowns"]["interactions"] == {
        "channel": {"call": 2, "email": 1},
        "direction": {"inbound": 1, "outbound": 2},
    }


def test_ticket_times_and_sla_compliance_are_computed_from_the_ticket_history(reporting):
    feed(reporting, *tickets_of_march())

    values = kpis(reporting)["kpis"]

    assert values["tickets_opened"] == 4
    assert values["tickets_resolved"] == 2
    # first responses after 600, 3600 and 1800 s; p90 by nearest rank of three is the largest
    assert values["first_response_time"] == {"median": 1800, "p90": 3600, "count": 3}
    # resolutions after 2 h and 24 h
    assert values["resolution_time"] == {"median": 46800, "p90": 86400, "count": 2}
    # t1 met; t2 resolved after its due time; t3 breached
    assert values["sla_compliance"] == {"met": 1, "breached": 2, "share": 0.3333}


def test_the_sla_report_has_the_ticket_kpis_only(reporting):
    feed(reporting, *tickets_of_march())

    report = reporting.sla({**MARCH, "group_by": "user"})

    assert list(report["kpis"]) == [
        "tickets_opened",
        "tickets_resolved",
        "first_response_time",
        "resolution_time",
        "sla_compliance",
    ]
    assert [(group["key"], group["kpis"]["tickets_opened"]) for group in report["groups"]] == [("u7", 4)]


def test_deals_created_won_lost_and_won_amount_per_currency(reporting):
    feed(reporting, *deals_of_march())

    values = kpis(reporting)["kpis"]

    assert (values["deals_created"], values["deals_won"], values["deals_lost"]) == (4, 2, 1)
    assert values["won_amount"] == {"EUR": "1000.00", "USD": "250.50"}


def test_the_funnel_sums_the_amounts_of_the_deals_that_reached_each_stage_per_currency(reporting):
    feed(reporting, *deals_of_march())

    report = reporting.funnel(MARCH)

    # A, B, C 1000 EUR each, D 250.50 USD; D skipped qualified, which counts as passing it
    assert [(s["stage"], s["amount"]) for s in report["stages"]] == [
        ("lead", {"EUR": "3000.00", "USD": "250.50"}),
        ("qualified", {"EUR": "2000.00", "USD": "250.50"}),
        ("proposal", {"EUR": "1000.00", "USD": "250.50"}),
        ("negotiation", {"EUR": "1000.00", "USD": "250.50"}),
        ("won", {"EUR": "1000.00", "USD": "250.50"}),
    ]


def test_the_funnel_converts_per_stage_and_averages_time_in_stage(reporting):
    feed(reporting, *deals_of_march())

    report = reporting.funnel(MARCH)

    assert (report["deals"], report["won"], report["lost"], report["win_rate"]) == (4, 2, 1, 0.5)
    assert [(s["stage"], s["reached"], s["conversion_to_next"]) for s in report["stages"]] == [
        ("lead", 4, 0.75),
        ("qualified", 3, 0.6667),
        ("proposal", 2, 1.0),
        ("negotiation", 2, 1.0),
        ("won", 2, None),
    ]
    day = 86400
    # finished stays: lead A 1 day, B 2, D 1; qualified A 2, B 2; proposal A 5, D 1
    assert [s["average_time_in_stage_s"] for s in report["stages"]] == [
        round((1 + 2 + 1) * day / 3, 1),
        2 * day,
        (5 + 1) * day / 2,
        None,
        None,
    ]


def test_tasks_completed_and_overdue(reporting):
    feed(
        reporting,
        event("task.completed", task("2025-06-10T12:00:00+00:00", "2025-06-09T12:00:00+00:00")),
        event("task.completed", task("2025-06-10T12:00:00+00:00", "2025-06-12T12:00:00+00:00")),
        event("task.created", task("2025-06-11T12:00:00+00:00")),
        event("task.updated", task("2025-06-11T12:00:00+00:00", status="cancelled")),
    )

    values = reporting.kpis({"from": "2025-06-01", "to": "2025-06-30", "kpi": "tasks_completed,tasks_overdue"})["kpis"]

    assert values == {"tasks_completed": 2, "tasks_overdue": 2}


def test_campaign_response_rates_per_kind_relative_to_messages_sent(reporting):
    kinds = ["sent"] * 4 + ["opened", "opened", "clicked", "converted"]
    feed(reporting, *(response_recorded(kind, "2026-03-05T10:00:00+00:00") for kind in kinds))

    report = reporting.campaigns(MARCH)

    assert report["total"]["responses"] == {
        "sent": 4,
        "opened": 2,
        "clicked": 1,
        "replied": 0,
        "converted": 1,
        "declined": 0,
    }
    assert report["total"]["rates"] == {
        "opened": 0.5,
        "clicked": 0.25,
        "replied": 0.0,
        "converted": 0.25,
        "declined": 0.0,
    }
    assert [campaign["campaign_id"] for campaign in report["campaigns"]] == ["camp1"]
    assert kpis(reporting, kpi="campaign_responses")["kpis"] == {"campaign_responses": 8}


def counts_by_group(reporting, tz, group_by, start, end):
    report = reporting.kpis({"from": start, "to": end, "tz": tz, "group_by": group_by, "kpi": "contacts_created"})
    return {group["label"]: group["kpis"]["contacts_created"] for group in report["groups"]}


def test_days_in_berlin_around_the_spring_change_of_clocks(reporting):
    feed(
        reporting,
        contact_created("2026-03-28T22:30:00+00:00"),  # 23:30 CET, 28 March
        contact_created("2026-03-28T23:30:00+00:00"),  # 00:30 CET, 29 March
        contact_created("2026-03-29T21:30:00+00:00"),  # 23:30 CEST, 29 March (a 23-hour day)
        contact_created("2026-03-29T22:30:00+00:00"),  # 00:30 CEST, Monday 30 March
    )

    assert counts_by_group(reporting, "Europe/Berlin", "day", "2026-03-28", "2026-03-30") == {
        "2026-03-28": 1,
        "2026-03-29": 2,
        "2026-03-30": 1,
    }
    assert counts_by_group(reporting, "UTC", "day", "2026-03-28", "2026-03-30") == {
        "2026-03-28": 2,
        "2026-03-29": 2,
        "2026-03-30": 0,
    }
    # Monday 30 March opens ISO week 14 in Berlin while it is still Sunday in UTC
    assert counts_by_group(reporting, "Europe/Berlin", "week", "2026-03-23", "2026-04-05") == {
        "2026-W13": 3,
        "2026-W14": 1,
    }
    assert counts_by_group(reporting, "UTC", "week", "2026-03-23", "2026-04-05") == {"2026-W13": 4, "2026-W14": 0}


def test_days_in_berlin_around_the_autumn_change_of_clocks(reporting):
    feed(
        reporting,
        contact_created("2026-10-24T22:30:00+00:00"),  # 00:30 CEST, 25 October
        contact_created("2026-10-25T22:30:00+00:00"),  # 23:30 CET, 25 October (a 25-hour day)
        contact_created("2026-10-25T23:30:00+00:00"),  # 00:30 CET, 26 October
    )

    assert counts_by_group(reporting, "Europe/Berlin", "day", "2026-10-24", "2026-10-26") == {
        "2026-10-24": 0,
        "2026-10-25": 2,
        "2026-10-26": 1,
    }
    one_day = reporting.kpis({"from": "2026-10-25", "to": "2026-10-25", "tz": "Europe/Berlin"})
    assert one_day["kpis"]["contacts_created"] == 2


def test_days_and_months_in_new_york_around_the_spring_change_of_clocks(reporting):
    feed(
        reporting,
        contact_created("2026-03-08T04:30:00+00:00"),  # 23:30 EST, 7 March
        contact_created("2026-03-08T05:30:00+00:00"),  # 00:30 EST, 8 March
        contact_created("2026-03-09T03:30:00+00:00"),  # 23:30 EDT, 8 March
        contact_created("2026-03-09T04:30:00+00:00"),  # 00:30 EDT, 9 March
        contact_created("2026-04-01T02:00:00+00:00"),  # 22:00 EDT, 31 March
    )

    assert counts_by_group(reporting, "America/New_York", "day", "2026-03-07", "2026-03-09") == {
        "2026-03-07": 1,
        "2026-03-08": 2,
        "2026-03-09": 1,
    }
    assert counts_by_group(reporting, "America/New_York", "month", "2026-03-01", "2026-04-30") == {
        "2026-03": 5,
        "2026-04": 0,
    }
    assert counts_by_group(reporting, "UTC", "month", "2026-03-01", "2026-04-30") == {"2026-03": 4, "2026-04": 1}


def company_tree():
    """Company (d1) above Sales (d2) above Sales Berlin (d3); Support (d4) also below Company."""
    return [
        department("d1", "Company"),
        department("d2", "Sales", "d1"),
        department("d3", "Sales Berlin", "d2"),
        department("d4", "Support", "d1"),
        user("u9", "Una", "d4"),
    ]


def test_a_departments_figures_include_the_departments_below_it(reporting):
    feed(
        reporting,
        *company_tree(),
        contact_created("2026-03-02T10:00:00+00:00", department_id="d3"),
        contact_created("2026-03-02T10:00:00+00:00", department_id="d3"),
        contact_created("2026-03-02T10:00:00+00:00", department_id="d2"),
        contact_created("2026-03-02T10:00:00+00:00", department_id="d4"),
        contact_created("2026-03-02T10:00:00+00:00", owner_id="u9", department_id=None),  # Una's: Support
    )

    by_department = kpis(reporting, group_by="department", kpi="contacts_created")["groups"]
    only_sales = kpis(reporting, group_by="department", kpi="contacts_created", department_id="d2")

    assert {(g["key"], g["label"]): g["kpis"]["contacts_created"] for g in by_department} == {
        ("d1", "Company"): 5,
        ("d2", "Sales"): 3,
        ("d3", "Sales Berlin"): 2,
        ("d4", "Support"): 2,
    }
    assert only_sales["kpis"]["contacts_created"] == 3
    assert {g["key"]: g["kpis"]["contacts_created"] for g in only_sales["groups"]} == {"d2": 3, "d3": 2}
    assert kpis(reporting, user_id="u9")["kpis"]["contacts_created"] == 1


def test_a_moved_department_moves_its_figures_up_the_new_tree(reporting):
    feed(reporting, *company_tree(), contact_created("2026-03-02T10:00:00+00:00", department_id="d3"))
    feed(reporting, department("d3", "Sales Berlin", "d4", event_type="department.updated"))

    groups = kpis(reporting, group_by="department", kpi="contacts_created")["groups"]

    assert {g["key"]: g["kpis"]["contacts_created"] for g in groups} == {"d1": 1, "d2": 0, "d3": 1, "d4": 1}


def test_a_redelivered_event_counts_once(reporting):
    created = contact_created("2026-03-10T09:30:00+00:00")

    feed(reporting, created, dict(created))

    assert kpis(reporting)["kpis"]["contacts_created"] == 1
    assert len(reporting.rows(Fact)) == 1
    assert [row.event_id for row in reporting.rows(ProcessedEvent)] == [created["event_id"]]


def test_an_older_event_arriving_late_does_not_undo_a_newer_state(reporting):
    history = tickets_of_march()
    feed(reporting, *reversed(history))

    values = kpis(reporting)["kpis"]

    assert (values["tickets_opened"], values["tickets_resolved"]) == (4, 2)
    assert values["sla_compliance"] == {"met": 1, "breached": 2, "share": 0.3333}


def test_a_changed_or_deleted_interaction_counts_as_it_is_now(reporting):
    logged = interaction_created("2026-03-02T10:00:00+00:00", "call")
    changed = logged["entity"] | {"channel": "meeting"}
    feed(reporting, logged, event("interaction.updated", changed, "2026-03-02T11:00:00+00:00"))
    assert kpis(reporting, kpi="interactions")["breakdowns"]["interactions"]["channel"] == {"meeting": 1}

    feed(reporting, event("interaction.deleted", changed, "2026-03-02T12:00:00+00:00"))
    assert kpis(reporting, kpi="interactions")["kpis"] == {"interactions": 0}


def everything():
    return [
        *company_tree(),
        *tickets_of_march(),
        *deals_of_march(),
        contact_created("2026-03-02T10:00:00+00:00", department_id="d3"),
        interaction_created("2026-03-02T10:00:00+00:00", "email", "outbound"),
        response_recorded("sent", "2026-03-05T10:00:00+00:00"),
    ]


def without_freshness(report):
    return {key: value for key, value in report.items() if key != "fresh_as_of"}


def test_a_rebuild_from_the_same_history_gives_the_same_numbers(reporting):
    history = everything()
    feed(reporting, *history)
    before = [without_freshness(kpis(reporting, group_by=group_by)) for group_by in ("department", "week", "user")]
    funnel_before = without_freshness(reporting.funnel(MARCH))

    with Session(reporting.engine) as session:
        clear_read_models(session)
    assert kpis(reporting)["kpis"]["contacts_created"] == 0
    replayed = history + random.Random(7).sample(history, 10)  # at least once: some arrive twice
    feed(reporting, *replayed)

    after = [without_freshness(kpis(reporting, group_by=group_by)) for group_by in ("department", "week", "user")]
    assert after == before
    assert without_freshness(reporting.funnel(MARCH)) == funnel_before


def test_every_kpi_is_reported_even_when_nothing_happened(reporting):
    values = kpis(reporting)["kpis"]

    assert values["contacts_created"] == values["deals_won"] == 0
    assert values["resolution_time"] == {"median": None, "p90": None, "count": 0}
    assert values["sla_compliance"] == {"met": 0, "breached": 0, "share": None}
    assert values["won_amount"] == {}


def test_the_report_says_how_fresh_it_is(reporting):
    assert kpis(reporting)["fresh_as_of"] is None

    feed(reporting, contact_created("2026-03-10T09:30:00+00:00"), contact_created("2026-03-09T09:30:00+00:00"))

    fresh = kpis(reporting)["fresh_as_of"]
    assert fresh["event_occurred_at"] == "2026-03-10T09:30:00+00:00"
    assert fresh["applied_at"] > fresh["event_occurred_at"]
