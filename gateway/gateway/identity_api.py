"""`/api/v1/auth`, `/departments`, `/users`: identity, owned by the gateway and announced as events."""

import logging

from sqlalchemy import select

from crm_kernel.db import utcnow
from crm_kernel.errors import Conflict, TooManyRequests, Unauthorized
from crm_kernel.http import api, entity_response, json_body
from crm_kernel.schemas import load
from gateway import throttle
from gateway.auth import hash_password, issue_token, password_matches
from gateway.callers import client_address, login_keys
from gateway.identity import (
    apply_changes,
    check_department_exists,
    check_email_free,
    check_parent,
    commit_or_conflict,
    load_or_404,
    page,
)
from gateway.models import Department, User
from gateway.openapi import ERRORS, crud, json_content, own_schema, ref, request_body
from gateway.routing import V1, visible_to
from gateway.schemas import DepartmentSchema, IdentityQuerySchema, TokenRequestSchema, UserSchema

log = logging.getLogger(__name__)


class IdentityApi:
    """`/auth/token`, `/auth/logout`, `/departments`, `/users`."""

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
        return apply_changes(self.db, self.outbox, department, fields, DepartmentSchema(), "department")

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
        departments = visible_to(select(Department), Department, principal)
        return page(self.db, request, Department, DepartmentSchema, departments)

    # -- users --------------------------------------------------------------------------------

    @api("POST", f"{V1}/users")
    def create_user(self, request):
        self.auth.require(request, "admin")
        fields = load(UserSchema(), json_body(request))
        check_department_exists(self.db, fields["department_id"])
        check_email_free(self.db, fields["email"])
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
        check_email_free(self.db, fields.get("email"), user.id)
        password = fields.pop("password", None)
        if password is not None:
            user.password_hash = hash_password(password)
            user.token_generation += 1  # a new password ends every session of the old one
        changed = password is not None
        return apply_changes(self.db, self.outbox, user, fields, UserSchema(), "user", password_changed=changed)

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
        return page(self.db, request, User, UserSchema, users)

    @staticmethod
    def describe(spec):
        spec.components.schema("TokenRequest", own_schema(TokenRequestSchema))
        spec.components.schema("Department", own_schema(DepartmentSchema))
        spec.components.schema("User", own_schema(UserSchema))
        query = own_schema(IdentityQuerySchema)
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
                    "requestBody": request_body(ref("TokenRequest")),
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
            query=query,
            sorts=("created_at", "name"),
            rules=(
                "parent_id is not this department or one below it",
                "working intervals start before they end and do not overlap, at least an hour a week (or none)",
            ),
        )
        user_rules = ("email is not another user's",)
        crud(spec, f"{V1}/users", "User", "users", query=query, sorts=("created_at", "name"), rules=user_rules)
        me = {"200": {"description": "The caller", **json_content(ref("User"))}, **ERRORS}
        spec.path(path=f"{V1}/users/me", operations={"get": {"tags": ["users"], "responses": me}})
