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


def keyset_page(session: Session, stmt, model, *, limit: int, cursor: str | None, sort: str, sortable: tuple):
    """Run `stmt` for one page sorted by `sort` (`name` or `-name`, one of `sortable`).

    Returns the rows and the cursor of the next page (None on the last page).
    """
    name = sort.removeprefix("-")
    if name not in sortable:
        raise ValidationFailed(
            f"cannot sort by {name!r}; choose one of {', '.join(sortable)}", {"sort": [f"one of {', '.join(sortable)}"]}
        )
    descending = sort.startswith("-")
    column = getattr(model, name)
    if cursor:
        value, last_id = decode_cursor(cursor, column)
        if descending:
            stmt = stmt.where(or_(column < value, and_(column == value, model.id < last_id)))
        else:
            stmt = stmt.where(or_(column > value, and_(column == value, model.id > last_id)))
    order = (column.desc(), model.id.desc()) if descending else (column.asc(), model.id.asc())
    rows = session.scalars(stmt.order_by(*order).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(getattr(rows[-1], name), rows[-1].id)
    return rows, next_cursor
