"""Record handling every service repeats: load the visible record or 404, check its version,
flush or 412, and the fields that changed between two states.

Plain functions taking the session and the caller's scope explicitly, so an entity module reads as
`contact = records.visible_or_404(db, Contact, contact_id, scope, noun="contact")`.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm_kernel.errors import NotFound, PreconditionFailed
from crm_kernel.scope import Scope, visible

ID_LENGTH = 32


def plausible_id(entity_id) -> bool:
    """Whether `entity_id` could name a row: PostgreSQL refuses NUL in text, which must read as a 404."""
    return isinstance(entity_id, str) and 0 < len(entity_id) <= ID_LENGTH and entity_id.isprintable()


def find(session: Session, model, entity_id):
    """The row of `model` with this id, or None; an id no row can have is simply not found."""
    return session.get(model, entity_id) if plausible_id(entity_id) else None


def visible_or_404(
    session: Session,
    model,
    entity_id,
    scope: Scope,
    *,
    noun: str,
    live: bool = True,
    expected_version: int | None = None,
    owners: tuple[str, ...] = ("owner_id",),
    department: str = "department_id",
    options: tuple = (),
):
    """The record the caller may see, or NotFound worded the same whether it is absent, deleted
    (`live`: a soft-deleted one counts as absent) or outside the scope; then its version checked.
    `options` are the loader options of the SELECT (what it loads with the record)."""
    record = None
    if plausible_id(entity_id):
        stmt = select(model).where(model.id == entity_id).options(*options)
        if live and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))
        record = session.scalar(visible(stmt, model, scope, owners=owners, department=department))
    if record is None:
        raise NotFound(f"{noun} {entity_id} not found")
    check_version(record, expected_version, noun)
    return record


def check_version(record, expected_version: int | None, noun: str) -> None:
    """412 when the caller's `If-Match` names a version the record is no longer at."""
    if expected_version is not None and record.version != expected_version:
        raise PreconditionFailed(
            f"{noun} {record.id} is at version {record.version}, not {expected_version}; read it again"
        )


def flush_or_stale(session: Session, entity_id: str) -> None:
    """Write the pending changes; 412 when another writer changed the record since it was read."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(f"{entity_id} was changed meanwhile; read it again") from None


def commit_or_stale(session: Session, entity_id: str) -> None:
    """`flush_or_stale`, then commit."""
    flush_or_stale(session, entity_id)
    session.commit()


def changes(before: dict, after: dict, fields=None) -> dict:
    """`{field: [old, new]}` for each of `fields` (by default every key of `after`) whose value differs;
    the shape events and history carry."""
    names = after.keys() if fields is None else fields
    return {name: [before.get(name), after.get(name)] for name in names if before.get(name) != after.get(name)}


def new_row(entity) -> dict:
    """The columns of a new entity not added to any session, its Python-side defaults applied (and set
    on it, so that a schema dumps it as it will be stored) and its version 1: a row for
    `crm_kernel.bulk.insert_together`, which writes it with its event in one statement."""
    row = {}
    for column in type(entity).__table__.columns:
        value = getattr(entity, column.key)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
            setattr(entity, column.key, value)
        row[column.key] = value
    if row.get("version") is None and "version" in row:
        entity.version = row["version"] = 1  # the first of `Entity.version`, which the ORM would set
    return row
