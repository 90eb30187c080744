"""Loading, changing and saving this service's entities the same way for every kind."""

import re

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm_kernel.db import utcnow
from crm_kernel.errors import NotFound, PreconditionFailed


def not_found(model, entity_id: str) -> NotFound:
    what = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()  # SlaPolicy -> "sla policy"
    return NotFound(f"{what} {entity_id} not found")


def load_live(session: Session, model, entity_id: str, expected_version: int | None = None, visible=None):
    """The entity unless it is (soft) deleted or `visible(entity)` is false (both a 404); a stale
    `expected_version` is a 412, checked last so that it never confirms a hidden record exists."""
    what = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()
    entity = session.get(model, entity_id)
    if entity is None or getattr(entity, "deleted_at", None) is not None:
        raise not_found(model, entity_id)
    if visible is not None and not visible(entity):
        raise not_found(model, entity_id)
    if expected_version is not None and entity.version != expected_version:
        raise PreconditionFailed(
            f"{what} {entity_id} is at version {entity.version}, not {expected_version}; read it again"
        )
    return entity


def apply_changes(entity, schema, fields: dict) -> dict:
    """Set `fields` on `entity`; returns `{field: [old, new]}` as the wire format shows them."""
    before = schema.dump(entity)
    for name, value in fields.items():
        setattr(entity, name, value)
    after = schema.dump(entity)
    changed = {name: [before.get(name), after.get(name)] for name in fields if before.get(name) != after.get(name)}
    if changed:
        entity.updated_at = utcnow()
    return changed


def flush_or_stale(session: Session, entity) -> None:
    """Write pending changes now; a concurrent writer that got there first is a 412."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(
            f"{type(entity).__name__.lower()} {entity.id} was changed meanwhile; read it again"
        ) from None
