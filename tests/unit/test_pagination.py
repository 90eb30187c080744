"""Keyset pagination: opaque cursors, and pages that together hold every row exactly once."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import Base, Contact
from crm_kernel.errors import ValidationFailed
from crm_kernel.pagination import decode_cursor, encode_cursor, keyset_page

SORTABLE = ("created_at", "last_name")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def session(memory_engine):
    with Session(memory_engine(Base)) as session:
        yield session


def add_contacts(session, *rows):
    """Contacts from `(id, minutes after T0, last_name)`; equal minutes make ties the id must break."""
    for contact_id, minutes, last_name in rows:
        session.add(
            Contact(id=contact_id, first_name="F", last_name=last_name, created_at=T0 + timedelta(minutes=minutes))
        )
    session.commit()


def walk(session, sort, limit=2):
    """Every page in turn; returns the ids in the order served and the size of each page."""
    ids, sizes, cursor = [], [], None
    for _ in range(50):  # a cursor that never ends would otherwise hang the test
        rows, cursor = keyset_page(
            session, select(Contact), Contact, limit=limit, cursor=cursor, sort=sort, sortable=SORTABLE
        )
        ids += [row.id for row in rows]
        sizes.append(len(rows))
        if cursor is None:
            return ids, sizes
    pytest.fail("pagination did not end")


@pytest.fixture
def seven_contacts(session):
    add_contacts(
        session,
        ("c5", 10, "Hopper"),
        ("c2", 10, "Lovelace"),
        ("c7", 0, "Turing"),
        ("c1", 20, "Hopper"),
        ("c4", 10, "Hopper"),
        ("c3", 30, "Babbage"),
        ("c6", 30, "Lovelace"),
    )
    return {c.id: c for c in session.scalars(select(Contact))}


def test_a_cursor_round_trips_a_datetime_and_an_id():
    moment = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)

    assert decode_cursor(encode_cursor(moment, "c9"), Contact.created_at) == (moment, "c9")


def test_a_cursor_round_trips_a_string_and_an_id():
    assert decode_cursor(encode_cursor("O'Brien", "c9"), Contact.last_name) == ("O'Brien", "c9")


def test_a_cursor_is_url_safe():
    cursor = encode_cursor("\u00fc" * 40 + "??>>", "c9")

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("cursor", ["not a cursor!", "e30", "NQ", "WzEsMiwzXQ", "W251bGwsICJjMSJd"])
def test_a_garbage_cursor_is_refused_naming_cursor(cursor):
    # e30 = {}, NQ = 5, WzEsMiwzXQ = [1,2,3], W251bGwsICJjMSJd = [null, "c1"] for a datetime column
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(cursor, Contact.created_at)

    assert list(refused.value.errors) == ["cursor"]


def test_an_unknown_sort_is_refused_naming_sort(session):
    with pytest.raises(ValidationFailed) as refused:
        keyset_page(session, select(Contact), Contact, limit=2, cursor=None, sort="-first_name", sortable=SORTABLE)

    assert list(refused.value.errors) == ["sort"]


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "last_name", "-last_name"])
def test_walking_every_page_returns_every_row_once_in_order(session, seven_contacts, sort):
    name = sort.removeprefix("-")
    expected = sorted(seven_contacts, key=lambda i: (getattr(seven_contacts[i], name), i), reverse=sort[0] == "-")

    ids, sizes = walk(session, sort)

    assert ids == expected
    assert sizes == [2, 2, 2, 1]


def test_the_last_full_page_has_no_next_cursor(session):
    add_contacts(session, ("a", 0, "A"), ("b", 1, "B"), ("c", 2, "C"), ("d", 3, "D"))

    ids, sizes = walk(session, "created_at")

    assert ids == ["a", "b", "c", "d"]
    assert sizes == [2, 2]


def test_an_empty_table_is_one_empty_page(session):
    assert walk(session, "-created_at") == ([], [0])


def test_a_cursor_with_a_time_without_zone_is_refused_naming_cursor():
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(encode_cursor("2026-01-01T00:00:00", "x"), Contact.created_at)

    assert list(refused.value.errors) == ["cursor"]
