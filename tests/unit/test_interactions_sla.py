"""SLA arithmetic: only working hours count, in the department's own zone, across weekends and DST."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactions.sla import (
    DEFAULT_TARGETS,
    DEFAULT_WORKING_HOURS,
    MAX_TARGET_MINUTES,
    WEEKDAYS,
    due_time,
    sla_terms,
    working_hours_problems,
    working_minutes,
)

WEEKDAYS_WITH_LUNCH = {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS[:5]}
ROUND_THE_CLOCK = {day: [["00:00", "24:00"]] for day in WEEKDAYS}


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def test_ticket_due_time_skips_the_weekend_in_the_departments_zone():
    friday_afternoon = local("Europe/Berlin", 2026, 3, 6, 16, 0)

    due = due_time(friday_afternoon, 120, DEFAULT_WORKING_HOURS, "Europe/Berlin")

    assert due == local("Europe/Berlin", 2026, 3, 9, 10, 0)  # one hour on Friday, one on Monday
    assert due.tzinfo == UTC


def test_the_lunch_break_and_the_night_do_not_count():
    before_lunch = local("Europe/Berlin", 2026, 3, 10, 11, 30)

    assert due_time(before_lunch, 60, WEEKDAYS_WITH_LUNCH, "Europe/Berlin") == local(
        "Europe/Berlin", 2026, 3, 10, 13, 30
    )
    late = local("Europe/Berlin", 2026, 3, 10, 16, 30)
    assert due_time(late, 60, WEEKDAYS_WITH_LUNCH, "Europe/Berlin") == local("Europe/Berlin", 2026, 3, 11, 9, 30)


def test_a_ticket_opened_at_night_starts_its_clock_when_the_department_opens():
    night = local("America/New_York", 2026, 3, 10, 23, 0)

    assert due_time(night, 30, DEFAULT_WORKING_HOURS, "America/New_York") == local(
        "America/New_York", 2026, 3, 11, 9, 30
    )


def test_the_same_moment_is_due_at_different_times_in_different_zones():
    start = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, 11:00 in New York (already on summer time)

    berlin = due_time(start, 120, DEFAULT_WORKING_HOURS, "Europe/Berlin")
    new_york = due_time(start, 120, DEFAULT_WORKING_HOURS, "America/New_York")

    assert berlin == local("Europe/Berlin", 2026, 3, 11, 10, 0)
    assert new_york == local("America/New_York", 2026, 3, 10, 13, 0)


@pytest.mark.parametrize(
    ("zone", "friday", "monday"),
    [
        # Europe/Berlin springs forward on Sunday 2026-03-29, New York on Sunday 2026-03-08.
        ("Europe/Berlin", (2026, 3, 27), (2026, 3, 30)),
        ("America/New_York", (2026, 3, 6), (2026, 3, 9)),
        # ... and fall back on 2026-10-25 and 2026-11-01.
        ("Europe/Berlin", (2026, 10, 23), (2026, 10, 26)),
        ("America/New_York", (2026, 10, 30), (2026, 11, 2)),
    ],
)
def test_a_dst_weekend_keeps_the_working_day_on_the_local_clock(zone, friday, monday):
    start = local(zone, *friday, 16, 0)

    due = due_time(start, 120, DEFAULT_WORKING_HOURS, zone)

    assert due == local(zone, *monday, 10, 0)
    assert due.astimezone(ZoneInfo(zone)).hour == 10  # the offset changed; the wall clock did not


def test_a_round_the_clock_day_with_a_dst_change_is_as_long_as_it_really_is():
    saturday_noon = local("Europe/Berlin", 2026, 3, 28, 12, 0)

    due = due_time(saturday_noon, 24 * 60, ROUND_THE_CLOCK, "Europe/Berlin")

    assert due - saturday_noon == timedelta(hours=24)
    assert due == local("Europe/Berlin", 2026, 3, 29, 13, 0)  # 25 hours later on the wall clock


# Europe/Berlin on Sunday 2026-03-29 jumps from 02:00 to 03:00 (CET +01:00 to CEST +02:00), and on
# Sunday 2026-10-25 goes from 03:00 back to 02:00, so 02:00-03:00 happens twice. The values below are
# worked out by hand from those offsets, not by the module's own interval arithmetic.
SUNDAY_NIGHT_SHIFT_IN_THE_GAP = {"sun": [["02:30", "04:00"]]}
SUNDAY_NIGHT_SHIFT_IN_THE_OVERLAP = {"sun": [["02:00", "03:00"]]}


def test_a_shift_starting_in_the_spring_forward_gap_opens_at_the_skipped_time_read_before_the_jump():
    saturday = local("Europe/Berlin", 2026, 3, 28, 12, 0)
    # 02:30 does not exist; read at +01:00 it is 01:30 UTC (03:30 CEST). 04:00 CEST is 02:00 UTC: 30 minutes.

    assert due_time(saturday, 30, SUNDAY_NIGHT_SHIFT_IN_THE_GAP, "Europe/Berlin") == datetime(
        2026, 3, 29, 2, 0, tzinfo=UTC
    )
    # The 31st minute is the first of the next Sunday's shift: 02:30 CEST = 00:30 UTC, plus one minute.
    assert due_time(saturday, 31, SUNDAY_NIGHT_SHIFT_IN_THE_GAP, "Europe/Berlin") == datetime(
        2026, 4, 5, 0, 31, tzinfo=UTC
    )
    assert (
        working_minutes(
            saturday, local("Europe/Berlin", 2026, 3, 30, 0, 0), SUNDAY_NIGHT_SHIFT_IN_THE_GAP, "Europe/Berlin"
        )
        == 30
    )


def test_a_shift_in_the_autumn_overlap_lasts_both_passes_of_the_repeated_hour():
    saturday = local("Europe/Berlin", 2026, 10, 24, 12, 0)
    # 02:00 (first pass, CEST) is 00:00 UTC; 03:00 CET is 02:00 UTC: two real hours.

    assert due_time(saturday, 90, SUNDAY_NIGHT_SHIFT_IN_THE_OVERLAP, "Europe/Berlin") == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )
    assert due_time(saturday, 120, SUNDAY_NIGHT_SHIFT_IN_THE_OVERLAP, "Europe/Berlin") == datetime(
        2026, 10, 25, 2, 0, tzinfo=UTC
    )
    # The 121st minute: next Sunday 2026-11-01, 02:00 CET = 01:00 UTC, plus one minute.
    assert due_time(saturday, 121, SUNDAY_NIGHT_SHIFT_IN_THE_OVERLAP, "Europe/Berlin") == datetime(
        2026, 11, 1, 1, 1, tzinfo=UTC
    )
    assert (
        working_minutes(
            saturday, local("Europe/Berlin", 2026, 10, 26, 0, 0), SUNDAY_NIGHT_SHIFT_IN_THE_OVERLAP, "Europe/Berlin"
        )
        == 120
    )


def test_without_working_hours_the_clock_runs_around_the_clock():
    start = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)

    assert due_time(start, 90, {day: [] for day in WEEKDAYS}, "Europe/Berlin") == start + timedelta(minutes=90)


def test_working_minutes_counts_only_working_time():
    friday = local("Europe/Berlin", 2026, 3, 6, 16, 0)
    monday = local("Europe/Berlin", 2026, 3, 9, 10, 0)

    assert working_minutes(friday, monday, DEFAULT_WORKING_HOURS, "Europe/Berlin") == 120


def test_overlapping_hours_are_named():
    problems = working_hours_problems({"mon": [["09:00", "13:00"], ["12:00", "17:00"]], "tue": [["10:00", "09:00"]]})

    assert problems == ["mon: intervals overlap at 12:00", "tue: 10:00 is not before 09:00"]
    assert working_hours_problems(WEEKDAYS_WITH_LUNCH) == []
    assert working_hours_problems({"funday": []}) == [
        "'funday' is not a weekday; use mon, tue, wed, thu, fri, sat, sun"
    ]


def test_a_department_without_a_policy_gets_the_default_targets_and_its_own_hours():
    targets, hours, zone = sla_terms(None, None, (WEEKDAYS_WITH_LUNCH, "Asia/Tokyo"))

    assert (targets, hours, zone) == (DEFAULT_TARGETS, WEEKDAYS_WITH_LUNCH, "Asia/Tokyo")
    assert sla_terms({"low": 1, "normal": 2, "high": 3, "urgent": 4}, ROUND_THE_CLOCK, None)[1:] == (
        ROUND_THE_CLOCK,
        "UTC",
    )


# -- properties -----------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo"]


@st.composite
def working_weeks(draw):
    """Random but valid working hours: per day up to three disjoint intervals on a 15-minute grid."""
    hours = {}
    for day in WEEKDAYS:
        marks = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
        marks = marks[: len(marks) - len(marks) % 2]
        hours[day] = [[_hhmm(marks[i] * 15), _hhmm(marks[i + 1] * 15)] for i in range(0, len(marks), 2)]
    return hours


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(start=starts, minutes=st.integers(0, 3000), hours=working_weeks(), zone=st.sampled_from(ZONES))
def test_due_time_is_never_before_the_start_and_leaves_exactly_the_target_in_between(start, minutes, hours, zone):
    due = due_time(start, minutes, hours, zone)

    assert due >= start
    assert working_minutes(start, due, hours, zone) == pytest.approx(minutes, abs=1e-6)
    if minutes:  # and not a second later than needed
        assert working_minutes(start, due - timedelta(seconds=1), hours, zone) < minutes


@settings(max_examples=100, deadline=None)
@given(start=starts, a=st.integers(0, 2000), b=st.integers(0, 2000), hours=working_weeks(), zone=st.sampled_from(ZONES))
def test_a_bigger_target_is_never_due_earlier(start, a, b, hours, zone):
    low, high = sorted((a, b))

    assert due_time(start, low, hours, zone) <= due_time(start, high, hours, zone)


def test_working_hours_leave_at_least_an_hour_a_week_or_none():
    assert working_hours_problems({"mon": [["09:00", "09:01"]]}) == [
        "at least 60 working minutes a week (or none: the clock runs always)"
    ]
    assert working_hours_problems({"mon": [["09:00", "09:30"]], "tue": [["09:00", "09:30"]]}) == []
    assert working_hours_problems({"mon": []}) == []


def test_the_longest_target_at_the_fewest_hours_is_due_within_the_horizon():
    an_hour_a_week = {"sun": [["23:00", "24:00"]]}
    due = due_time(datetime(2026, 3, 2, 9, tzinfo=UTC), MAX_TARGET_MINUTES, an_hour_a_week, "Europe/Berlin")
    assert due.year == 2035  # 500 weeks on, and computed, not a 500
