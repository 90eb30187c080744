"""Passwords (argon2), bearer tokens (signed JWTs that expire), and who is calling."""

import secrets
from datetime import timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nameko.extensions import DependencyProvider
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from crm_kernel.config import database_url, env, var_dir
from crm_kernel.context import ACTOR
from crm_kernel.db import get_engine, utcnow
from crm_kernel.departments import DepartmentTree
from crm_kernel.errors import Forbidden, Unauthorized
from crm_kernel.scope import SCOPE, Scope
from crm_kernel.secrets import required_secret
from gateway.models import Department, User

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """What a login with an unknown e-mail is verified against, so it costs the same time as a real
    check. Made on first use, not at import: a hash costs about a second of CPU on a loaded machine,
    which every gateway start (and restart after a crash) would otherwise pay before it serves."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def secret_key() -> str:
    """`CRM_SECRET_KEY`; on a laptop without it, a random key kept under `var/` across restarts.

    Outside development a missing, short or placeholder key stops the gateway from starting.
    """
    key = required_secret("CRM_SECRET_KEY")
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


def issue_token(user, key: str) -> dict:
    now = utcnow()
    claims = {
        "sub": user.id,
        "role": user.role,
        "dept": user.department_id,
        "gen": user.token_generation or 0,
        "iat": now,
        "exp": now + timedelta(seconds=token_ttl()),
    }
    return {
        "access_token": jwt.encode(claims, key, algorithm="HS256"),
        "token_type": "Bearer",
        "expires_in": token_ttl(),
    }


def token_claims(token: str, key: str) -> dict:
    """The claims of a token this gateway signed and that has not expired."""
    try:
        return jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; ask for a new one at POST /api/v1/auth/token") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid") from None


def principal_from_claims(claims: dict) -> Scope:
    """The caller as the token says they were when it was issued."""
    return Scope(claims["sub"], claims.get("role", ""), claims.get("dept"))


def principal_from_token(token: str, key: str) -> Scope:
    return principal_from_claims(token_claims(token, key))


def bearer_token(request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Authenticator:
    def __init__(self, key: str, context_data: dict, session_factory=None):
        self.key = key
        self.context_data = context_data
        self.session_factory = session_factory

    def require(self, request, *roles: str) -> Scope:
        """The caller of `request`, who must hold one of `roles` (any role when none are named).

        The token proves who calls; the role and department are read from the user as they are now,
        so a disabled user, a logout or a change of role takes effect on the next request.
        """
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("send `Authorization: Bearer <token>`; get a token at POST /api/v1/auth/token")
        principal = self._current(token_claims(token, self.key))
        if roles and principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this")
        # Every RPC and event from this worker now names who acts, and whose records they may see.
        self.context_data[ACTOR] = principal.user_id
        self.context_data[SCOPE] = principal.encode()
        return principal

    def _current(self, claims: dict) -> Scope:
        if self.session_factory is None:  # unit tests of the token alone
            return principal_from_claims(claims)
        with self.session_factory() as session:
            user = session.get(User, claims["sub"])
            if user is None or not user.active or claims.get("gen", 0) != user.token_generation:
                raise Unauthorized("the token has been revoked; ask for a new one at POST /api/v1/auth/token")
            tree = DepartmentTree({})  # only a manager's scope reaches below their own department
            if user.role == "manager":
                tree = DepartmentTree(dict(session.execute(select(Department.id, Department.parent_id)).all()))
        return Scope.for_user(user.id, user.role, user.department_id, tree)


class Auth(DependencyProvider):
    def setup(self):
        self.key = secret_key()
        self.session_factory = sessionmaker(get_engine(database_url(self.container.service_name)))

    def get_dependency(self, worker_ctx):
        return Authenticator(self.key, worker_ctx.data, self.session_factory)
