"""Passwords (argon2), bearer tokens (signed JWTs that expire), and who is calling."""

import secrets
import time
from datetime import timedelta
from functools import cache
from weakref import WeakSet

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nameko.extensions import DependencyProvider
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

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


EXPIRED = "the token has expired; ask for a new one at POST /api/v1/auth/token"
_verified: dict[tuple[str, str], dict] = {}  # (token, key) -> claims, of tokens whose signature was checked
VERIFIED_TOKENS = 10_000


def token_claims(token: str, key: str) -> dict:
    """The claims of a token this gateway signed and that has not expired.

    A token's signature is checked once per process (each request checked it twice, in the middleware
    and in the route: 4.5% of the gateway's time); its expiry is checked on every use.
    """
    claims = _verified.get((token, key))
    if claims is not None:
        if claims["exp"] <= time.time():
            raise Unauthorized(EXPIRED)
        return claims
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid") from None
    if len(_verified) >= VERIFIED_TOKENS:
        _verified.clear()
    _verified[(token, key)] = claims
    return claims


def principal_from_claims(claims: dict) -> Scope:
    """The caller as the token says they were when it was issued."""
    return Scope(claims["sub"], claims.get("role", ""), claims.get("dept"))


def principal_from_token(token: str, key: str) -> Scope:
    return principal_from_claims(token_claims(token, key))


def bearer_token(request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def auth_cache_seconds() -> float:
    return float(env("CRM_AUTH_CACHE_SECONDS", "5"))


class CallerCache:
    """Each user's scope as last read from their row, kept `seconds`: most requests read no row.

    An entry holds for tokens of the generation it was read in. Any commit in this process that
    changes a user or a department forgets every entry (`forget_all`), so a logout, a disabled user, a
    new password, role or department tree takes effect here on the next request, as without the
    cache; another gateway replica reads the row again within `seconds`.
    """

    def __init__(self, seconds: float, size: int = 10_000):
        self.seconds = seconds
        self.size = size
        self.entries: dict[str, tuple[float, int, Scope]] = {}
        self.epoch = 0  # moves on at every `forget_all`
        _caches.add(self)

    def get(self, user_id: str, generation: int, now: float | None = None) -> Scope | None:
        expires, known, scope = self.entries.get(user_id, (0.0, None, None))
        return scope if known == generation and (time.monotonic() if now is None else now) < expires else None

    def put(self, user_id: str, generation: int, scope: Scope, epoch: int, now: float | None = None) -> None:
        """Keep `scope`, read while the cache was at `epoch`; not when identity changed since (the row
        read may be the old one)."""
        if self.seconds <= 0 or epoch != self.epoch:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[user_id] = ((time.monotonic() if now is None else now) + self.seconds, generation, scope)

    def forget_all(self) -> None:
        self.epoch += 1
        self.entries.clear()


_caches: WeakSet = WeakSet()  # every CallerCache of the process, forgotten when identity changes
_IDENTITY_CHANGED = "crm.identity_changed"


@event.listens_for(Session, "after_flush")
def _note_identity_changes(session, _flush_context):
    if any(isinstance(row, (User, Department)) for row in (*session.new, *session.dirty, *session.deleted)):
        session.info[_IDENTITY_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_callers(session):
    if session.info.pop(_IDENTITY_CHANGED, False):
        for cache in list(_caches):
            cache.forget_all()


@event.listens_for(Session, "after_rollback")
def _keep_callers(session):
    session.info.pop(_IDENTITY_CHANGED, None)


class Authenticator:
    def __init__(self, key: str, context_data: dict, session_factory=None, callers: CallerCache | None = None):
        self.key = key
        self.context_data = context_data
        self.session_factory = session_factory
        self.callers = callers or CallerCache(0)

    def require(self, request, *roles: str) -> Scope:
        """The caller of `request`, who must hold one of `roles` (any role when none are named).

        The token proves who calls; the role and department are read from the user as they are now
        (or, for `CRM_AUTH_CACHE_SECONDS`, as they were read last: `CallerCache`), so a disabled user,
        a logout or a change of role takes effect on the next request.
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
        known = self.callers.get(claims["sub"], claims.get("gen", 0))
        if known is not None:
            return known
        epoch = self.callers.epoch
        with self.session_factory() as session:
            user = session.get(User, claims["sub"])
            if user is None or not user.active or claims.get("gen", 0) != user.token_generation:
                raise Unauthorized("the token has been revoked; ask for a new one at POST /api/v1/auth/token")
            tree = DepartmentTree({})  # only a manager's scope reaches below their own department
            if user.role == "manager":
                tree = DepartmentTree(dict(session.execute(select(Department.id, Department.parent_id)).all()))
            scope = Scope.for_user(user.id, user.role, user.department_id, tree)
            self.callers.put(user.id, user.token_generation, scope, epoch)
        return scope


class Auth(DependencyProvider):
    def setup(self):
        self.key = secret_key()
        self.session_factory = sessionmaker(get_engine(database_url(self.container.service_name)))
        self.callers = CallerCache(auth_cache_seconds())

    def get_dependency(self, worker_ctx):
        return Authenticator(self.key, worker_ctx.data, self.session_factory, self.callers)
