"""Identity, owned by the gateway: the rules of departments and users, as plain functions on a session."""

from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.http import entity_response, expected_version, query_args
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from gateway.auth import hash_password
from gateway.models import Department, User
from gateway.routing import visible_to
from gateway.schemas import DepartmentSchema, IdentityQuerySchema, UserSchema


def load_or_404(session: Session, model, entity_id: str, request=None, principal: Scope | None = None):
    """The entity, if `principal` may read it (a 404 otherwise, as for an unknown id), checked against the
    request's `If-Match` when a request is given."""
    entity = session.scalar(visible_to(select(model).where(model.id == entity_id), model, principal))
    if entity is None or getattr(entity, "active", True) is False:
        raise NotFound(f"{model.__name__.lower()} {entity_id} not found")
    wanted = expected_version(request) if request is not None else None
    if wanted is not None and wanted != entity.version:
        raise PreconditionFailed(f"{model.__name__.lower()} {entity_id} is at version {entity.version}, not {wanted}")
    return entity


@contextmanager
def conflicts_refused(session: Session, what: str):
    """A unique key taken (409) or a version moved on (412) while the block writes: rolled back, refused."""
    try:
        yield
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{what} conflicts with an existing record") from None
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(f"{what} was changed meanwhile; read it again") from None


def commit_or_conflict(session: Session, what: str) -> None:
    with conflicts_refused(session, what):
        session.commit()


def check_parent(session: Session, department_id: str | None, parent_id: str | None) -> None:
    """The parent exists, and is not the department itself or one of its descendants."""
    seen = set()
    current = parent_id
    while current is not None:
        if current == department_id or current in seen:
            raise ValidationFailed("a department cannot be below itself", {"parent_id": ["would make a cycle"]})
        seen.add(current)
        parent = session.get(Department, current)
        if parent is None:
            raise ValidationFailed(f"department {current} does not exist", {"parent_id": ["unknown department"]})
        current = parent.parent_id


def check_department_exists(session: Session, department_id: str | None) -> None:
    if department_id is not None and session.get(Department, department_id) is None:
        raise ValidationFailed(f"department {department_id} does not exist", {"department_id": ["unknown department"]})


def check_email_free(session: Session, email: str | None, user_id: str | None = None) -> None:
    """No other user (`user_id` is the one being changed) has `email`: a 409 naming the field."""
    if email is None:
        return
    taken = session.scalar(select(User.id).where(User.email == email, User.id != user_id).limit(1))
    if taken is not None:
        raise Conflict(f"a user with e-mail {email} exists", {"email": ["already taken"]})


def ensure_admin(session: Session, email: str, password: str, outbox=None) -> User | None:
    """Create the first admin (and a root department) unless a user with `email` exists."""
    email = email.strip().lower()
    if session.scalar(select(User).where(User.email == email)) is not None:
        return None
    department = session.scalar(select(Department).where(Department.parent_id.is_(None)))
    if department is None:
        department = Department(**load(DepartmentSchema(), {"name": "Headquarters"}))
        session.add(department)
        session.flush()
        if outbox:
            outbox.add(session, "department.created", DepartmentSchema().dump(department))
    fields = load(
        UserSchema(),
        {
            "email": email,
            "name": "Administrator",
            "role": "admin",
            "password": password,
            "department_id": department.id,
        },
    )
    password = fields.pop("password")
    user = User(**fields, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    if outbox:
        outbox.add(session, "user.created", UserSchema().dump(user))
    session.commit()
    return user


def apply_changes(session: Session, outbox, entity, fields: dict, schema, kind: str, password_changed=False):
    """Set `fields` on `entity`; when anything changed, announce `<kind>.updated` with the changes."""
    before = schema.dump(entity)
    for name, value in fields.items():
        setattr(entity, name, value)
    after = schema.dump(entity)
    changed = {name: [before[name], after[name]] for name in fields if before.get(name) != after.get(name)}
    if password_changed:
        changed["password"] = ["(secret)", "(secret)"]
    if changed:
        entity.updated_at = utcnow()
        with conflicts_refused(session, f"the {kind}"):  # the flush meets the unique keys first
            session.flush()
            after = schema.dump(entity)
            outbox.add(session, f"{kind}.updated", after, changes=changed)
            session.commit()
    return entity_response(after)


def page(session: Session, request, model, schema_cls, stmt) -> dict:
    """One page of `stmt` as the list routes of departments and users return it."""
    params = load(IdentityQuerySchema(), query_args(request))
    rows, next_cursor = keyset_page(
        session,
        stmt,
        model,
        limit=params["limit"],
        cursor=params["cursor"],
        sort=params["sort"],
        sortable=("created_at", "name"),
    )
    return {"items": schema_cls(many=True).dump(rows), "next_cursor": next_cursor}
