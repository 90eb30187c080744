"""KPI arithmetic: which UTC instants bound a period of local days, buckets, percentiles, the funnel."""

from datetime import UTC, date, datetime, timedelta

from reporting.kpis import bucket, buckets, funnel, kpi_values, median, p90, period_bounds


def utc_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    opens, closes = period_bounds(start, end, tz)
    return opens.astimezone(UTC), closes.astimezone(UTC)


def test_a_utc_day_is_bounded_by_midnight_utc():
    assert utc_bounds(date(2026, 3, 29), date(2026, 3, 29), "UTC") == (
        datetime(2026, 3, 29, tzinfo=UTC),
        datetime(2026, 3, 30, tzinfo=UTC),
    )


def test_a_period_includes_its_last_day():
    opens, closes = utc_bounds(date(2026, 2, 1), date(2026, 2, 28), "UTC")

    assert closes - opens == timedelta(days=28)


def test_the_berlin_day_clocks_go_forward_lasts_23_hours():
    opens, closes = utc_bounds(date(2026, 3, 29), date(2026, 3, 29), "Europe/Berlin")

    assert opens == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert closes == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert closes - opens == timedelta(hours=23)


def test_the_berlin_day_clocks_go_back_lasts_25_hours():
    opens, closes = utc_bounds(date(2026, 10, 25), date(2026, 10, 25), "Europe/Berlin")

    assert opens == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert closes == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert closes - opens == timedelta(hours=25)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_an_instant_is_bucketed_by_its_local_day_week_and_month():
    sunday_night_utc = at("2026-03-29T22:30:00+00:00")  # already Monday 30 March, 00:30 CEST, in Berlin

    assert bucket(sunday_night_utc, "day", "Europe/Berlin") == "2026-03-30"
    assert bucket(sunday_night_utc, "week", "Europe/Berlin") == "2026-W14"
    assert bucket(sunday_night_utc, "week", "UTC") == "2026-W13"
    assert bucket(at("2026-03-31T22:30:00+00:00"), "month", "Europe/Berlin") == "2026-04"
    assert bucket(at("2026-03-31T22:30:00+00:00"), "month", "UTC") == "2026-03"


def test_iso_weeks_start_on_monday_and_the_first_holds_a_thursday():
    assert bucket(at("2027-01-01T12:00:00+00:00"), "week", "UTC") == "2026-W53"  # a Friday
    assert bucket(at("2026-01-01T12:00:00+00:00"), "week", "UTC") == "2026-W01"  # a Thursday


def test_every_bucket_of_a_period_is_listed_in_order():
    assert buckets(date(2026, 3, 28), date(2026, 4, 6), "week") == ["2026-W13", "2026-W14", "2026-W15"]
    assert buckets(date(2026, 1, 31), date(2026, 3, 1), "month") == ["2026-01", "2026-02", "2026-03"]
    assert len(buckets(date(2026, 1, 1), date(2026, 12, 31), "day")) == 365


def test_median_and_p90_by_nearest_rank():
    minutes = [60 * n for n in range(1, 11)]  # 1 to 10 minutes

    assert median(minutes) == 330
    assert p90(minutes) == 540
    assert p90([5]) == 5
    assert median([]) is None and p90([]) is None


def test_a_task_is_overdue_only_once_its_due_time_has_passed():
    due = {"kpi": "tasks_overdue", "occurred_at": at("2026-06-10T12:00:00+00:00"), "dimensions": {}}

    before, _ = kpi_values([due], ("tasks_overdue",), at("2026-06-10T11:59:00+00:00"))
    after, _ = kpi_values([due], ("tasks_overdue",), at("2026-06-10T12:01:00+00:00"))

    assert (before, after) == ({"tasks_overdue": 0}, {"tasks_overdue": 1})


def test_the_funnel_counts_a_skipped_stage_as_passed_and_a_lost_deal_where_it_got_to():
    day = timedelta(days=1)
    start = at("2026-03-02T09:00:00+00:00")
    report = funnel(
        {
            "won": [("lead", start), ("negotiation", start + day), ("won", start + 3 * day)],
            "lost": [("lead", start), ("qualified", start + 2 * day), ("lost", start + 3 * day)],
        }
    )

    assert [(s["stage"], s["reached"]) for s in report["stages"]] == [
        ("lead", 2),
        ("qualified", 2),
        ("proposal", 1),
        ("negotiation", 1),
        ("won", 1),
    ]
    assert report["stages"][0]["average_time_in_stage_s"] == 1.5 * 86400
    assert report["stages"][3]["average_time_in_stage_s"] == 2 * 86400
    assert (report["won"], report["lost"], report["win_rate"]) == (1, 1, 0.5)
