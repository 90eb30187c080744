"""Internal HTTP routes (CSV import and export, document blobs) accept only requests the gateway signed.

The gateway signs the method, the path, the caller's scope, the acting user (`X-Actor`, or none) and
the time with HMAC-SHA256 under `CRM_INTERNAL_KEY`; a service checks the signature in constant time
and refuses one older (or newer) than `MAX_AGE_SECONDS`. Reaching a service's port is then not enough
to import, export or read blobs, nor to claim a wider scope or another actor: a NetworkPolicy is a
second wall, not the only one. A request without a scope is refused; a call that must see everything
signs `Scope.system()`.
"""

import hashlib
import hmac
import json
import os
import secrets
import time
from urllib.parse import urlencode

from nameko.extensions import DependencyProvider

from crm_kernel.config import var_dir
from crm_kernel.errors import Unauthorized
from crm_kernel.scope import Scope
from crm_kernel.secrets import required_secret

SCOPE_HEADER = "X-Scope"
ACTOR_HEADER = "X-Actor"
TIME_HEADER = "X-Signed-At"
SIGNATURE_HEADER = "X-Signature"
MAX_AGE_SECONDS = 30


def internal_key() -> bytes:
    """`CRM_INTERNAL_KEY` (outside development: set, 32 bytes or more, not a placeholder).

    In development without it, a random key kept under `var/`, shared by the processes of `make run`
    (created once, atomically, by whichever process comes first).
    """
    key = required_secret("CRM_INTERNAL_KEY")
    if key:
        return key.encode()
    path = var_dir() / "internal-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".internal-key-{os.getpid()}-{secrets.token_hex(4)}")
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: two processes starting together still share one key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


def with_query(path: str, params: dict | None = None) -> str:
    """`path` with `params` as the query string it is sent and signed with (`signed_headers`)."""
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def _target(request) -> str:
    """What the gateway signed of `request`'s address: its path and, when there is one, its query string
    as it came over the wire (an import's mode and match rule, an export's filters)."""
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path


def _signature(key: bytes, method: str, path: str, scope: str, actor: str, signed_at: str) -> str:
    # A JSON array, not joined text: no choice of fields can make two different requests read alike.
    message = json.dumps([method.upper(), path, scope, actor, signed_at]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(
    key: bytes, method: str, path: str, scope: Scope, actor: str | None = None, now: float | None = None
) -> dict[str, str]:
    """The headers that let the gateway's request `method path` through, on behalf of `scope`, with
    `actor` (a user id) as the one who acts, or no one. `path` carries the query string, if any, as it
    is sent (`with_query`): a request whose query was changed is refused like one whose scope was."""
    signed_at = str(int(time.time() if now is None else now))
    encoded = scope.encode()
    headers = {
        SCOPE_HEADER: encoded,
        TIME_HEADER: signed_at,
        SIGNATURE_HEADER: _signature(key, method, path, encoded, actor or "", signed_at),
    }
    if actor:
        headers[ACTOR_HEADER] = actor
    return headers


def verified_caller(request, key: bytes, now: float | None = None) -> tuple[Scope, str | None]:
    """The scope and the actor (None when none was signed) the gateway signed for `request`; 401 when
    the signature is missing, wrong or stale, or the actor was changed, dropped or added."""
    encoded = request.headers.get(SCOPE_HEADER, "")
    actor = request.headers.get(ACTOR_HEADER, "")
    signed_at = request.headers.get(TIME_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not (encoded and signed_at.isascii() and signed_at.isdigit() and given):
        raise Unauthorized("an internal route: only requests the gateway signed are accepted")
    expected = _signature(key, request.method, _target(request), encoded, actor, signed_at)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise Unauthorized("an internal route: the signature does not match")
    if abs((time.time() if now is None else now) - int(signed_at)) > MAX_AGE_SECONDS:
        raise Unauthorized("an internal route: the signature has expired")
    return Scope.decode(encoded), actor or None


def verified_scope(request, key: bytes, now: float | None = None) -> Scope:
    """The scope the gateway signed for `request` (see `verified_caller`)."""
    return verified_caller(request, key, now)[0]


class InternalKey(DependencyProvider):
    """The key of internal requests, read when the service starts (so a weak one stops it there)."""

    def setup(self):
        self.key = internal_key()

    def get_dependency(self, worker_ctx):
        return self.key
