"""Many rows into one table at once: COPY on PostgreSQL, multi-row INSERTs elsewhere.

An import writes thousands of rows per batch. Through pg8000 even a multi-row INSERT costs a Python
rewrite of its parameter style and an encoded parameter per value; COPY streams the rows as CSV
text, several times faster. Both paths run in the caller's transaction.
"""

import io
import json
import socket
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.orm import Session


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
    buffer = io.StringIO()
    for row in rows:
        buffer.write(",".join(_csv_value(row[name]) for name in columns))
        buffer.write("\n")
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        names = ", ".join(f'"{name}"' for name in columns)
        cursor.execute(f'COPY "{table.name}" ({names}) FROM STDIN WITH (FORMAT csv)', stream=buffer)
    finally:
        cursor.close()


def without_nagle(session: Session) -> None:
    """Send small protocol messages at once on this session's PostgreSQL connection.

    pg8000 flushes COPY data, CopyDone and Sync as separate small writes; with Nagle's algorithm on,
    each statement then waits for the server's delayed ACK (about 40 ms), which dominated imports.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = getattr(connection.connection.dbapi_connection, "_usock", None)
        if isinstance(raw, socket.socket):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _csv_value(value) -> str:
    """One value as COPY's CSV reads it: NULL unquoted and empty, everything else quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    return '"' + str(value).replace('"', '""') + '"'
