"""`crm_kernel.bulk.insert_rows` writes what it is given, byte for byte, on every path: one JSON array
expanded by PostgreSQL (psycopg2 under eventlet's wait callback), COPY (pg8000), multi-row INSERTs
(SQLite). The import and reporting's batches write through it."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, MetaData, Numeric, String, Table, select
from sqlalchemy.orm import Session

from crm_kernel.bulk import insert_rows
from crm_kernel.db import get_engine

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200)),
    Column("at", DateTime(timezone=True)),
    Column("day", Date),
    Column("amount", Numeric(12, 2)),
    Column("flag", Boolean),
    Column("payload", JSON),
)

AWKWARD = ['a "quoted" ;name', "line\nbreak", "Zoë Núñez — €", "back\\slash", "", "tab\there", "null", "😀"]


def rows() -> list[dict]:
    at = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)
    return [
        {
            "id": i,
            "name": name,
            "at": at,
            "day": date(2026, 2, 28),
            "amount": Decimal("1234.50"),
            "flag": i % 2 == 0,
            "payload": {"entity": {"name": name, "tags": ["a", name], "n": i, "none": None}, "at": at.isoformat()},
        }
        for i, name in enumerate(AWKWARD)
    ] + [{"id": 100, "name": None, "at": None, "day": None, "amount": None, "flag": None, "payload": None}]


@pytest.fixture(params=["project driver", "pg8000"])
def url(request, database_url):
    if request.param == "pg8000":
        if not database_url.startswith("postgresql"):
            pytest.skip("pg8000 is a PostgreSQL driver")
        return "postgresql+pg8000" + database_url[database_url.index(":") :]
    return database_url


def test_every_value_comes_back_as_written(url):
    engine = get_engine(url)
    metadata.create_all(engine)
    given = rows()
    with Session(engine) as session:
        insert_rows(session, things, given)
        session.commit()
    with Session(engine) as session:
        stored = [dict(row._mapping) for row in session.execute(select(things).order_by(things.c.id))]
    for row in stored:  # SQLite gives times back without their zone
        if row["at"] is not None and row["at"].tzinfo is None:
            row["at"] = row["at"].replace(tzinfo=UTC)
    assert stored == given
