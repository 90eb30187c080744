"""`POST /api/v1/auth/password`: a user changes their own password.

The current password must be given (a stolen token alone cannot take the account over); wrong ones
are throttled like failed logins, per user. A new password ends every session of the old one: the
user's token generation moves on, so every token issued before (the caller's too) stops working and
the client signs in again with the new password.
"""

import hashlib
from datetime import datetime

from marshmallow import fields, validate
from sqlalchemy.orm import Session

from crm_kernel.db import utcnow
from crm_kernel.errors import Forbidden, TooManyRequests, ValidationFailed
from crm_kernel.http import api, json_body
from crm_kernel.schemas import StrictSchema, load
from gateway import throttle
from gateway.auth import hash_password, password_matches
from gateway.identity import commit_or_conflict, load_or_404
from gateway.models import User
from gateway.openapi import ERRORS, own_schema, ref, request_body
from gateway.routing import V1
from gateway.schemas import UserSchema

MIN_LENGTH = 12  # as for the passwords an administrator sets (UserSchema)
MAX_LENGTH = 200


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))
    # The length rule is checked by `weaknesses`, which names it in the user's words.
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=10_000))


def weaknesses(new: str, current: str, user: User) -> list[str]:
    """The rules `new` breaks, each in words the user can act on (empty when it is acceptable)."""
    found = []
    if len(new) < MIN_LENGTH:
        found.append(f"at least {MIN_LENGTH} characters (this has {len(new)})")
    if len(new) > MAX_LENGTH:
        found.append(f"at most {MAX_LENGTH} characters")
    if new == current:
        found.append("must differ from the current password")
    if len(set(new)) < 4:
        found.append("at least 4 different characters")
    lowered = new.lower()
    local_part = user.email.split("@", 1)[0].lower()
    if lowered == user.email.lower() or (len(local_part) >= 4 and local_part in lowered):
        found.append("must not contain your e-mail address")
    return found


def throttle_key(user_id: str) -> str:
    """Wrong current passwords count per user, whatever the address: the caller already holds a token
    of that user. Kept apart from login failures, so guessing here never locks the user's sign-in."""
    return "pair:" + hashlib.sha256(f"password-change\n{user_id}".encode()).hexdigest()


def change_password(session: Session, user: User, current: str, new: str, now: datetime) -> dict:
    """Checks `current` (403, counted as a failure) and `new` (422 naming the rule), then stores the
    new hash and revokes every token of `user`; the changes to record. Nothing is changed on error."""
    key = throttle_key(user.id)
    wait = throttle.seconds_locked(session, [key], now)
    if wait:
        raise TooManyRequests(f"too many wrong passwords; try again in {wait} s", retry_after=wait)
    if not password_matches(user.password_hash, current):
        throttle.record_failure(session, key, now)
        session.commit()
        raise Forbidden("the current password is wrong", {"current_password": ["wrong password"]})
    broken = weaknesses(new, current, user)
    if broken:
        raise ValidationFailed(f"the new password is too weak: {'; '.join(broken)}", {"new_password": broken})
    throttle.clear(session, key)
    user.password_hash = hash_password(new)
    user.token_generation += 1  # every session of the old password ends, this one too
    user.updated_at = now
    return {"password": ["(secret)", "(secret)"]}


class PasswordApi:
    """Mixed into the gateway service: `/auth/password`."""

    @api("POST", f"{V1}/auth/password")
    def change_password(self, request):
        caller = self.auth.require(request)
        body = load(PasswordChangeSchema(), json_body(request))
        user = load_or_404(self.db, User, caller.user_id)
        changes = change_password(self.db, user, body["current_password"], body["new_password"], utcnow())
        self.db.flush()
        self.outbox.add(self.db, "user.updated", UserSchema().dump(user), changes=changes)
        commit_or_conflict(self.db, "the user")
        return 204, ""

    @staticmethod
    def describe(spec):
        spec.components.schema("PasswordChange", own_schema(PasswordChangeSchema))
        responses = {
            "204": {"description": "Changed; every token of the user, the caller's too, is revoked: sign in again"},
            **ERRORS,
            "429": {"description": "Too many wrong current passwords; retry after Retry-After"},
        }
        spec.path(
            path=f"{V1}/auth/password",
            operations={
                "post": {
                    "tags": ["auth"],
                    "requestBody": request_body(ref("PasswordChange")),
                    "responses": responses,
                }
            },
        )
