"""Many rows into one table at once: COPY on PostgreSQL, multi-row INSERTs elsewhere.

An import (contacts) or a batch of events (reporting) writes hundreds to thousands of rows at once.
Through pg8000 even a multi-row INSERT costs a Python rewrite of its parameter style and an encoded
parameter per value; COPY streams the rows as CSV text, several times faster. Both paths run in the
caller's transaction.
"""

import csv
import io
import json

import orjson
from sqlalchemy import JSON, String, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


class _Null(float):
    """None as csv.writer must write it for COPY: empty and unquoted (COPY's NULL).

    With QUOTE_NONNUMERIC the writer quotes every string (so an empty string stays an empty string)
    but writes None quoted too (`""`, an empty string again); a number is never quoted, and this one
    prints as nothing.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    __repr__ = __str__


NULL = _Null()


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (dicts keyed by column name, every row the same keys) into `table`."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs ("insertmanyvalues").
        connection.execute(table.insert().returning(*table.primary_key.columns), rows)
        return
    columns = list(rows[0])
    if connection.dialect.driver == "psycopg2" and _green():
        _insert_json(connection, table, columns, rows)
        return
    if len(columns) < 2:
        raise ValueError("COPY rows need two columns or more: csv writes a lone empty value as a quoted one")
    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    for row in rows:
        values = [row[name] for name in columns]
        for i in json_columns:
            values[i] = None if values[i] is None else json.dumps(values[i])
        # Booleans print as True/False and times as `2026-11-29 10:00:00+00:00`: PostgreSQL reads both.
        writer.writerow([NULL if value is None else value for value in values])
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        names = ", ".join(f'"{name}"' for name in columns)
        statement = f'COPY "{table.name}" ({names}) FROM STDIN WITH (FORMAT csv)'
        if connection.dialect.driver == "psycopg2":
            cursor.copy_expert(statement, buffer)
        else:
            cursor.execute(statement, stream=buffer)
    finally:
        cursor.close()


def _green() -> bool:
    """Whether psycopg2 waits through a callback (eventlet, `crm_kernel.db`): it then refuses COPY."""
    import psycopg2.extensions  # noqa: PLC0415 - psycopg2 is there when the dialect names it

    return psycopg2.extensions.get_wait_callback() is not None


def _json_value(value):
    return str(value)  # Decimal: its text is what PostgreSQL reads (orjson writes times and UUIDs itself)


def _insert_json(connection, table: Table, columns: list[str], rows: list[dict]) -> None:
    """The rows as one JSON array parameter, expanded by PostgreSQL into the table's row type.

    One statement and one round trip, like COPY, and green: psycopg2 refuses COPY while a wait
    callback is set, and unsetting it would block every green thread for the COPY's length.
    JSON columns travel as nested JSON, NULL as null. orjson, since encoding was the import's largest
    cost after PostgreSQL (17% of the contacts process through `json.dumps`, x8-30 less with orjson:
    docs/decisions.md); every row has the same keys, so the rows are encoded as they are.
    """
    names = ", ".join(f'"{name}"' for name in columns)
    payload = orjson.dumps(rows, default=_json_value, option=orjson.OPT_NON_STR_KEYS).decode()
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM json_populate_recordset(NULL::"{table.name}", %s)',  # noqa: S608 - the table's own names
        (payload,),
    )


def one_of(session: Session, column, values: list[str]):
    """`column IN values` for a batch's hundreds of keys. On PostgreSQL one array parameter
    (`column = ANY(...)`): an `IN` list is a bound parameter per value, each rendered by SQLAlchemy and
    adapted by the driver, which cost a batch of reporting more than the lookups themselves. SQLite has
    no arrays (and the caller keeps each list within its parameter limit)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)
