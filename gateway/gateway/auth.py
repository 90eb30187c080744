"""Passwords (argon2), bearer tokens (signed JWTs that expire), and who is calling."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nameko.extensions import DependencyProvider

from crm_kernel.config import env, var_dir
from crm_kernel.context import ACTOR
from crm_kernel.db import utcnow
from crm_kernel.errors import Forbidden, Unauthorized

_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown costs the same time as a real check.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def secret_key() -> str:
    """`CRM_SECRET_KEY`; on a laptop without it, a random key kept under `var/` across restarts."""
    key = env("CRM_SECRET_KEY", "")
    if key:
        return key
    path = var_dir() / "gateway-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def token_ttl() -> int:
    return int(env("CRM_TOKEN_TTL_SECONDS", "3600"))


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    department_id: str | None


def issue_token(user, key: str) -> dict:
    now = utcnow()
    claims = {
        "sub": user.id,
        "role": user.role,
        "dept": user.department_id,
        "iat": now,
        "exp": now + timedelta(seconds=token_ttl()),
    }
    return {
        "access_token": jwt.encode(claims, key, algorithm="HS256"),
        "token_type": "Bearer",
        "expires_in": token_ttl(),
    }


def principal_from_token(token: str, key: str) -> Principal:
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; ask for a new one at POST /api/v1/auth/token") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid") from None
    return Principal(claims["sub"], claims.get("role", ""), claims.get("dept"))


class Authenticator:
    def __init__(self, key: str, context_data: dict):
        self.key = key
        self.context_data = context_data

    def require(self, request, *roles: str) -> Principal:
        """The caller of `request`, who must hold one of `roles` (any role when none are named)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send `Authorization: Bearer <token>`; get a token at POST /api/v1/auth/token")
        principal = principal_from_token(token.strip(), self.key)
        if roles and principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this")
        # Every RPC and event from this worker now names who acts.
        self.context_data[ACTOR] = principal.user_id
        return principal


class Auth(DependencyProvider):
    def setup(self):
        self.key = secret_key()

    def get_dependency(self, worker_ctx):
        return Authenticator(self.key, worker_ctx.data)
