"""Custom fields (`/contact-fields`): the definitions an admin manages, and checking a contact's
`attributes` (or a CSV cell) against them."""

import itertools
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from contacts.models import FieldDefinition
from contacts.schemas import FieldDefinitionSchema
from crm_kernel import records
from crm_kernel.errors import Conflict, NotFound, ValidationFailed
from crm_kernel.schemas import load

TRUE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
CHANGED = "contact_fields"  # PostgreSQL's channel for the notice that definitions changed
LISTENING = "crm.contact_fields.listening"  # a pooled connection's info: when it began to listen


def create(db, data: dict, *, outbox) -> dict:
    definition = FieldDefinition(**load(FieldDefinitionSchema(), data))
    db.add(definition)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict(f"a custom field {definition.key!r} exists", {"key": ["already defined"]}) from None
    dumped = FieldDefinitionSchema().dump(definition)
    outbox.add(db, "contact_field.created", dumped)
    announce_change(db)
    db.commit()
    return dumped


def listed(db) -> dict:
    rows = db.scalars(select(FieldDefinition).order_by(FieldDefinition.key)).all()
    return {"items": FieldDefinitionSchema(many=True).dump(rows), "next_cursor": None}


def get(db, key: str) -> dict:
    return FieldDefinitionSchema().dump(_definition(db, key))


def update(db, key: str, data: dict, *, outbox) -> dict:
    """Change a definition's label, requiredness or choices; its key and type stay (values depend on them)."""
    definition = _definition(db, key)
    fields = load(FieldDefinitionSchema(), data, partial=True)
    fixed = {name: ["cannot change; define a new field"] for name in ("key", "type") if name in fields}
    if fixed:
        raise ValidationFailed("a custom field keeps its key and type", fixed)
    choices = fields.get("choices", definition.choices)
    if (definition.type == "choice") != bool(choices):
        raise ValidationFailed("only a choice field has choices, and it needs them", {"choices": ["wrong"]})
    before = FieldDefinitionSchema().dump(definition)
    for name in fields:
        setattr(definition, name, fields[name])
    db.flush()
    dumped = FieldDefinitionSchema().dump(definition)
    changed = records.changes(before, dumped, fields)
    if changed:
        outbox.add(db, "contact_field.updated", dumped, changes=changed)
        announce_change(db)
    db.commit()
    return dumped


def delete(db, key: str, *, outbox) -> None:
    """Contacts keep values of a deleted field until they are next changed; new values are refused."""
    definition = _definition(db, key)
    outbox.add(db, "contact_field.deleted", FieldDefinitionSchema().dump(definition))
    db.delete(definition)
    announce_change(db)
    db.commit()


def definitions(db) -> dict[str, dict]:
    """Every definition by key, as `validate_attributes` and the import take them (not to be changed).

    On PostgreSQL through psycopg2, when the session works outside a transaction
    (`crm_kernel.db.statement_by_statement`, as a create does), they are read once per process and
    kept while the database announces no change: every write of a definition notifies `CHANGED` in
    its commit, each pooled connection listens from its first use here on, and a notice waiting on
    the worker's connection (read from its socket, no round trip) drops what the process kept. So a
    change through any replica applies to the creates that come after its notice. Elsewhere (a
    transaction, SQLite, pg8000) they are read every time.
    """
    connection = db.connection()
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.driver != "psycopg2" or not dbapi.autocommit:
        return _read_definitions(db)
    info = connection.connection.info
    if LISTENING not in info:
        db.execute(text(f"LISTEN {CHANGED}"))  # in autocommit: from this statement on
        info[LISTENING] = next(_moments)
    kept = _kept.setdefault(connection.engine, KeptDefinitions())
    dbapi.poll()  # takes in the notices the server has sent, without waiting for more
    if any(notice.channel == CHANGED for notice in dbapi.notifies):
        dbapi.notifies.clear()
        kept.forget()
    known = kept.get(listening_since=info[LISTENING])
    return known if known is not None else kept.read(db)


def announce_change(db) -> None:
    """Tell every process that keeps definitions (`definitions`) that they change, when this commits."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text(f"NOTIFY {CHANGED}"))


def _read_definitions(db) -> dict[str, dict]:
    rows = db.scalars(select(FieldDefinition)).all()
    return {row.key: {"type": row.type, "required": row.required, "choices": row.choices} for row in rows}


_moments = itertools.count(1)  # orders when connections began to listen and when definitions were read


class KeptDefinitions:
    """The definitions a process read last, for the connections that listened before that read began
    (a connection that began later may have missed a notice sent meanwhile, and reads for itself)."""

    def __init__(self):
        self.definitions: dict | None = None
        self.read_from = 0  # the moment the kept read began
        self.changes = 0  # notices seen; a read that saw one begin meanwhile is not kept

    def get(self, listening_since: int) -> dict | None:
        return self.definitions if listening_since < self.read_from else None

    def read(self, db) -> dict[str, dict]:
        changes, began = self.changes, next(_moments)
        definitions = _read_definitions(db)
        if changes == self.changes:
            self.definitions, self.read_from = definitions, began
        return definitions

    def forget(self) -> None:
        self.changes += 1
        self.definitions = None


_kept: dict = {}  # per engine


def _definition(db, key: str) -> FieldDefinition:
    definition = db.scalar(select(FieldDefinition).where(FieldDefinition.key == key))
    if definition is None:
        raise NotFound(f"custom field {key} not found")
    return definition


def _check(definition: dict, value) -> str | None:
    """What is wrong with `value` for `definition`, or None."""
    kind = definition["type"]
    if kind == "text":
        return None if isinstance(value, str) and len(value) <= 2000 else "must be text (at most 2000 characters)"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "date":
        try:
            date.fromisoformat(value if isinstance(value, str) and len(value) == 10 else "")
        except ValueError:
            return "must be a date such as 2026-11-30"
        return None
    if kind == "choice":
        choices = definition.get("choices") or []
        return None if value in choices else f"must be one of: {', '.join(map(str, choices))}"
    return f"has an unknown type {kind!r}"


def validate_attributes(definitions: dict[str, dict], attributes: dict, *, enforce_required: bool) -> dict:
    """`attributes` checked against `definitions` (by key); raises ValidationFailed naming `attributes.<key>`.

    A `None` value means "not set" and is dropped; required fields are enforced when the whole set of
    attributes is given (on create, or when a change replaces them).
    """
    errors = {}
    cleaned = {}
    for key, value in attributes.items():
        definition = definitions.get(key)
        if definition is None:
            errors[f"attributes.{key}"] = ["unknown custom field; an admin defines them at /contact-fields"]
        elif value is not None:
            problem = _check(definition, value)
            if problem:
                errors[f"attributes.{key}"] = [problem]
            else:
                cleaned[key] = value
    if enforce_required:
        for key, definition in definitions.items():
            if definition.get("required") and cleaned.get(key) in (None, "") and f"attributes.{key}" not in errors:
                errors[f"attributes.{key}"] = ["required"]
    if errors:
        raise ValidationFailed(f"invalid custom fields: {', '.join(sorted(errors))}", errors)
    return cleaned


def from_text(definition: dict, text: str):
    """A CSV cell as the value its field's type expects (left as text when it cannot be: the check names it)."""
    kind = definition["type"]
    if kind == "number":
        try:
            number = float(text.replace(",", ".")) if any(c in text for c in ".,eE") else int(text)
        except ValueError:
            return text
        return number
    if kind == "bool":
        return TRUE_WORDS.get(text.strip().lower(), text)
    return text
