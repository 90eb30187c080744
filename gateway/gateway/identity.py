"""Identity, owned by the gateway: tokens, departments and users, announced as events."""

import logging

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, NotFound, PreconditionFailed, TooManyRequests, Unauthorized, ValidationFailed
from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from crm_kernel.pagination import keyset_page
from crm_kernel.schemas import load
from crm_kernel.scope import Scope
from gateway import throttle
from gateway.auth import hash_password, issue_token, password_matches
from gateway.callers import client_address, login_keys
from gateway.models import Department, User
from gateway.openapi import ERRORS, crud, json_content, ref
from gateway.schemas import DepartmentSchema, IdentityQuerySchema, TokenRequestSchema, UserSchema

log = logging.getLogger(__name__)
V1 = "/api/v1"


def visible_to(stmt, model, principal: Scope | None):
    """`stmt` restricted to the departments or users `principal` may read: admins and analysts (who
    read every department's reports) all; a manager their subtree and its users; an agent their own
    department and its users. Everyone reads themselves."""
    if principal is None or principal.role in ("admin", "analyst"):
        return stmt
    if model is Department:
        return stmt.where(Department.id.in_(principal.departments))
    return stmt.where(or_(User.department_id.in_(principal.departments), User.id == principal.user_id))


def check_owner(session: Session, principal: Scope, data, field: str = "owner_id") -> None:
    """422 naming `field` when `data` hands a record to someone who is not an active user the caller
    may see (an admin: any active user)."""
    user_id = data.get(field) if isinstance(data, dict) else None
    if not isinstance(user_id, str) or user_id == principal.user_id:
        return
    possible = 0 < len(user_id) <= 32 and user_id.isprintable()  # PostgreSQL refuses NUL: ask it nothing then
    users = select(User.id).where(User.id == user_id, User.active.is_(True))
    if principal.role != "admin":
        users = visible_to(users, User, principal)
    if not possible or session.scalar(users) is None:
        raise ValidationFailed(f"{field} must be an active user you may see", {field: ["not a user you may see"]})


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


def commit_or_conflict(session: Session, what: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{what} conflicts with an existing record") from None
    except StaleDataError:
        session.rollback()
        raise PreconditionFailed(f"{what} was changed meanwhile; read it again") from None


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


class IdentityApi:
    """Mixed into the gateway service: `/auth/token`, `/departments`, `/users`."""

    @api("POST", f"{V1}/auth/token")
    def create_token(self, request):
        credentials = load(TokenRequestSchema(), json_body(request))
        email = credentials["email"].strip().lower()
        address = client_address(request)
        keys = login_keys(email, address)
        now = utcnow()
        wait = throttle.seconds_locked(self.db, keys, now)
        if wait:
            raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait)
        user = self.db.scalar(select(User).where(User.email == email, User.active.is_(True)))
        if not password_matches(user.password_hash if user else None, credentials["password"]):
            for key in keys:
                throttle.record_failure(self.db, key, now)
            self.db.commit()
            # Not the e-mail: people type their password into that field too, and logs travel far.
            log.info("failed login from %s", address)
            raise Unauthorized("wrong e-mail or password")
        throttle.clear(self.db, keys[0])
        self.db.commit()
        return issue_token(user, self.auth.key)

    @api("POST", f"{V1}/auth/logout")
    def logout(self, request):
        """Revokes every token of the caller (on every device)."""
        caller = self.auth.require(request)
        user = load_or_404(self.db, User, caller.user_id)
        user.token_generation += 1
        commit_or_conflict(self.db, "the user")
        return 204, ""

    # -- departments --------------------------------------------------------------------------

    @api("POST", f"{V1}/departments")
    def create_department(self, request):
        self.auth.require(request, "admin")
        fields = load(DepartmentSchema(), json_body(request))
        check_parent(self.db, None, fields["parent_id"])
        department = Department(**fields)
        self.db.add(department)
        self.db.flush()
        dumped = DepartmentSchema().dump(department)
        self.outbox.add(self.db, "department.created", dumped)
        commit_or_conflict(self.db, "the department")
        return entity_response(dumped, 201, f"{V1}/departments/{department.id}")

    @api("GET", f"{V1}/departments/<string:department_id>")
    def get_department(self, request, department_id):
        principal = self.auth.require(request)
        department = load_or_404(self.db, Department, department_id, principal=principal)
        return entity_response(DepartmentSchema().dump(department))

    @api("PATCH", f"{V1}/departments/<string:department_id>")
    def update_department(self, request, department_id):
        self.auth.require(request, "admin")
        department = load_or_404(self.db, Department, department_id, request)
        fields = load(DepartmentSchema(), json_body(request), partial=True)
        if "parent_id" in fields:
            check_parent(self.db, department_id, fields["parent_id"])
        return self._apply_changes(department, fields, DepartmentSchema(), "department")

    @api("DELETE", f"{V1}/departments/<string:department_id>")
    def delete_department(self, request, department_id):
        self.auth.require(request, "admin")
        department = load_or_404(self.db, Department, department_id, request)
        in_use = self.db.scalar(select(Department.id).where(Department.parent_id == department_id).limit(1)) or (
            self.db.scalar(select(User.id).where(User.department_id == department_id, User.active).limit(1))
        )
        if in_use:
            raise Conflict(f"department {department_id} still has users or sub-departments")
        dumped = DepartmentSchema().dump(department)
        self.db.delete(department)
        self.outbox.add(self.db, "department.deleted", dumped)
        commit_or_conflict(self.db, "the department")
        return 204, ""

    @api("GET", f"{V1}/departments")
    def list_departments(self, request):
        principal = self.auth.require(request)
        return self._list(request, Department, DepartmentSchema, visible_to(select(Department), Department, principal))

    # -- users --------------------------------------------------------------------------------

    @api("POST", f"{V1}/users")
    def create_user(self, request):
        self.auth.require(request, "admin")
        fields = load(UserSchema(), json_body(request))
        check_department_exists(self.db, fields["department_id"])
        if self.db.scalar(select(User.id).where(User.email == fields["email"])):
            raise Conflict(f"a user with e-mail {fields['email']} exists", {"email": ["already taken"]})
        password = fields.pop("password")
        user = User(**fields, password_hash=hash_password(password))
        self.db.add(user)
        self.db.flush()
        dumped = UserSchema().dump(user)
        self.outbox.add(self.db, "user.created", dumped)
        commit_or_conflict(self.db, "the user")
        return entity_response(dumped, 201, f"{V1}/users/{user.id}")

    @api("GET", f"{V1}/users/me")
    def get_me(self, request):
        principal = self.auth.require(request)
        return entity_response(UserSchema().dump(load_or_404(self.db, User, principal.user_id)))

    @api("GET", f"{V1}/users/<string:user_id>")
    def get_user(self, request, user_id):
        principal = self.auth.require(request)
        return entity_response(UserSchema().dump(load_or_404(self.db, User, user_id, principal=principal)))

    @api("PATCH", f"{V1}/users/<string:user_id>")
    def update_user(self, request, user_id):
        self.auth.require(request, "admin")
        user = load_or_404(self.db, User, user_id, request)
        fields = load(UserSchema(), json_body(request), partial=True)
        if "department_id" in fields:
            check_department_exists(self.db, fields["department_id"])
        password = fields.pop("password", None)
        if password is not None:
            user.password_hash = hash_password(password)
            user.token_generation += 1  # a new password ends every session of the old one
        return self._apply_changes(user, fields, UserSchema(), "user", password_changed=password is not None)

    @api("DELETE", f"{V1}/users/<string:user_id>")
    def delete_user(self, request, user_id):
        """Deactivates: the user can no longer log in; what they recorded keeps their id."""
        self.auth.require(request, "admin")
        user = load_or_404(self.db, User, user_id, request)
        user.active = False
        user.token_generation += 1
        user.updated_at = utcnow()
        self.db.flush()
        self.outbox.add(self.db, "user.deleted", UserSchema().dump(user))
        commit_or_conflict(self.db, "the user")
        return 204, ""

    @api("GET", f"{V1}/users")
    def list_users(self, request):
        principal = self.auth.require(request)
        users = visible_to(select(User).where(User.active.is_(True)), User, principal)
        return self._list(request, User, UserSchema, users)

    @staticmethod
    def describe(spec):
        spec.components.schema("TokenRequest", schema=TokenRequestSchema)
        spec.components.schema("Department", schema=DepartmentSchema)
        spec.components.schema("User", schema=UserSchema)
        token = {
            "type": "object",
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string"},
                "expires_in": {"type": "integer"},
            },
        }
        spec.path(
            path=f"{V1}/auth/token",
            operations={
                "post": {
                    "tags": ["auth"],
                    "security": [],
                    "requestBody": json_content(ref("TokenRequest")),
                    "responses": {"200": {"description": "A bearer token", **json_content(token)}, **ERRORS},
                }
            },
        )
        logout = {"204": {"description": "Every token of the caller is revoked"}, **ERRORS}
        spec.path(path=f"{V1}/auth/logout", operations={"post": {"tags": ["auth"], "responses": logout}})
        crud(
            spec,
            f"{V1}/departments",
            "Department",
            "departments",
            query=IdentityQuerySchema(),
            sorts=("created_at", "name"),
        )
        crud(spec, f"{V1}/users", "User", "users", query=IdentityQuerySchema(), sorts=("created_at", "name"))
        me = {"200": {"description": "The caller", **json_content(ref("User"))}, **ERRORS}
        spec.path(path=f"{V1}/users/me", operations={"get": {"tags": ["users"], "responses": me}})

    # -- shared by the identity routes ----------------------------------------------------------

    def _apply_changes(self, entity, fields: dict, schema, kind: str, password_changed: bool = False):
        before = schema.dump(entity)
        for name, value in fields.items():
            setattr(entity, name, value)
        after = schema.dump(entity)
        changed = {name: [before[name], after[name]] for name in fields if before.get(name) != after.get(name)}
        if password_changed:
            changed["password"] = ["(secret)", "(secret)"]
        if changed:
            entity.updated_at = utcnow()
            self.db.flush()
            after = schema.dump(entity)
            self.outbox.add(self.db, f"{kind}.updated", after, changes=changed)
            commit_or_conflict(self.db, f"the {kind}")
        return entity_response(after)

    def _list(self, request, model, schema_cls, stmt):
        params = load(IdentityQuerySchema(), query_args(request))
        rows, next_cursor = keyset_page(
            self.db,
            stmt,
            model,
            limit=params["limit"],
            cursor=params["cursor"],
            sort=params["sort"],
            sortable=("created_at", "name"),
        )
        return {"items": schema_cls(many=True).dump(rows), "next_cursor": next_cursor}
