"""Departments' working hours and users, as the gateway accepts them."""

import pytest
from marshmallow import ValidationError

from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from gateway.schemas import DepartmentSchema, UserSchema, check_working_hours

WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def user_data(**overrides):
    return {"email": "ada@example.com", "name": "Ada", "role": "agent", "password": "correct horse battery"} | overrides


def test_working_hours_with_a_lunch_break_and_a_free_day_are_accepted():
    check_working_hours({"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": []})


def test_working_hours_may_touch_and_run_until_midnight():
    check_working_hours({"fri": [["18:00", "24:00"], ["00:00", "06:00"], ["06:00", "18:00"]]})


def test_overlapping_intervals_are_refused():
    with pytest.raises(ValidationError, match="overlap"):
        check_working_hours({"tue": [["13:00", "17:00"], ["09:00", "13:30"]]})


@pytest.mark.parametrize("interval", [["17:00", "09:00"], ["09:00", "09:00"]])
def test_an_interval_must_start_before_it_ends(interval):
    with pytest.raises(ValidationError, match="not before"):
        check_working_hours({"wed": [interval]})


@pytest.mark.parametrize("time", ["9:00", "25:00", "09:60", "24:01", "nine"])
def test_a_time_that_is_not_hh_mm_is_refused(time):
    with pytest.raises(ValidationError, match="HH:MM"):
        check_working_hours({"thu": [[time, "23:00"]]})


def test_an_unknown_weekday_is_refused():
    with pytest.raises(ValidationError, match="monday"):
        check_working_hours({"monday": [["09:00", "17:00"]]})


def test_a_department_completes_the_week_with_free_days_and_sorted_intervals():
    hours = load(
        DepartmentSchema(), {"name": "Support", "working_hours": {"tue": [["13:00", "17:00"], ["08:00", "12:00"]]}}
    )["working_hours"]

    assert list(hours) == WEEK
    assert hours["tue"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert all(hours[day] == [] for day in WEEK if day != "tue")


def test_a_department_without_working_hours_works_nine_to_five_on_weekdays():
    hours = load(DepartmentSchema(), {"name": "Sales"})["working_hours"]

    assert hours == {day: [["09:00", "17:00"]] for day in WEEK[:5]} | {"sat": [], "sun": []}


def test_a_department_with_bad_working_hours_is_refused_naming_the_field():
    with pytest.raises(ValidationFailed) as refused:
        load(DepartmentSchema(), {"name": "Sales", "working_hours": {"mon": [["17:00", "09:00"]]}})

    assert list(refused.value.errors) == ["working_hours"]


def test_a_users_email_is_lower_cased():
    assert load(UserSchema(), user_data(email="Ada@Example.COM"))["email"] == "ada@example.com"


def test_a_password_shorter_than_twelve_characters_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        load(UserSchema(), user_data(password="x" * 11))

    assert list(refused.value.errors) == ["password"]


def test_a_password_of_twelve_characters_is_accepted():
    assert load(UserSchema(), user_data(password="x" * 12))["password"] == "x" * 12


@pytest.mark.parametrize("role", ["root", "Admin", ""])
def test_an_unknown_role_is_refused(role):
    with pytest.raises(ValidationFailed) as refused:
        load(UserSchema(), user_data(role=role))

    assert list(refused.value.errors) == ["role"]


def test_a_users_password_is_never_dumped():
    dumped = UserSchema().dump(user_data())

    assert "password" not in dumped
    assert dumped["email"] == "ada@example.com"


@pytest.mark.parametrize("intervals", [[["09:00", "10:00"], "x"], [[9, 10]], [["09:00", "10:00"], None]])
def test_malformed_intervals_are_refused_not_crashed_on(intervals):
    with pytest.raises(ValidationError, match="each interval"):
        check_working_hours({"mon": intervals})


def test_a_department_works_at_least_an_hour_a_week_or_never():
    with pytest.raises(ValidationError, match="at least 60 working minutes a week"):
        check_working_hours({"mon": [["09:00", "09:01"]]})
    check_working_hours({"mon": [["09:00", "10:00"]]})
    check_working_hours({"mon": []})
