"""Keyset pagination: stable pages over a sort column and the id, with an opaque cursor."""

import base64
import json
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from crm_kernel.db import UTCDateTime
from crm_kernel.errors import ValidationFailed


def encode_cursor(value, last_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, column) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("naive time in cursor")
        return value, str(last_id)
    except (ValueError, TypeError):
        raise ValidationFailed("the cursor is not one this API returned", {"cursor": ["invalid cursor"]}) from None


def sort_key(sort: str, sortable: tuple) -> tuple[str, bool]:
    """The column name and direction of `sort` (`name` or `-name`, one of `sortable`); 422 otherwise."""
    name = sort.removeprefix("-")
    if name not in sortable:
        raise ValidationFailed(
            f"cannot sort by {name!r}; choose one of {', '.join(sortable)}", {"sort": [f"one of {', '.join(sortable)}"]}
        )
    return name, sort.startswith("-")


def after_cursor(stmt, model, name: str, descending: bool, cursor: str | None):
    """`stmt` restricted to the rows that follow `cursor` in the order of `name` then id."""
    if not cursor:
        return stmt
    column = getattr(model, name)
    value, last_id = decode_cursor(cursor, column)
    if descending:
        return stmt.where(or_(column < value, and_(column == value, model.id < last_id)))
    return stmt.where(or_(column > value, and_(column == value, model.id > last_id)))


def keyset_order(columns, name: str, descending: bool) -> tuple:
    """The ORDER BY of a page: `name` then id, of `columns` (a model, or a subquery's `.c`)."""
    column, id_ = getattr(columns, name), columns.id
    return (column.desc(), id_.desc()) if descending else (column.asc(), id_.asc())


def page_and_cursor(rows: list, limit: int, name: str) -> tuple[list, str | None]:
    """The first `limit` of `rows` (read with `limit + 1`), and the cursor of the next page (None on the last)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], name), rows[-1].id)


def keyset_page(session: Session, stmt, model, *, limit: int, cursor: str | None, sort: str, sortable: tuple):
    """Run `stmt` for one page sorted by `sort` (`name` or `-name`, one of `sortable`).

    Returns the rows and the cursor of the next page (None on the last page).
    """
    name, descending = sort_key(sort, sortable)
    stmt = after_cursor(stmt, model, name, descending, cursor)
    rows = session.scalars(stmt.order_by(*keyset_order(model, name, descending)).limit(limit + 1)).all()
    return page_and_cursor(rows, limit, name)
