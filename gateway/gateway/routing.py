"""What the gateway's route modules share: the API prefix, the roles, the body limits, the owner check
and the calls to the services' internal HTTP routes (whose problem documents pass through as they came).

Route modules import this module, `gateway.openapi` and the kernel, never each other.
"""

import requests
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_kernel.config import env
from crm_kernel.errors import BadRequest, ServiceUnavailable, ValidationFailed
from crm_kernel.scope import Scope
from crm_kernel.signing import signed_headers, with_query
from gateway.models import Department, User

V1 = "/api/v1"
STAFF = ("admin", "manager", "agent")
READERS = ("admin", "manager", "agent", "analyst")  # reports and plans: each sees the figures they may see
FORM_ALLOWANCE = 64 * 1024  # multipart boundaries and the metadata fields around an uploaded file


def max_upload_bytes() -> int:
    return int(env("CRM_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)))


def max_import_bytes() -> int:
    return int(env("CRM_MAX_IMPORT_BYTES", str(100 * 1024 * 1024)))


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


class PassThroughProblem(BadRequest):
    """A problem document from a service's internal HTTP route, returned to the client as it came."""

    def __init__(self, response: requests.Response):
        try:
            body = response.json()
        except ValueError:
            body = {"title": "Service error", "detail": response.text[:200]}
        super().__init__(body.get("detail", ""), body.get("errors"))
        self.status = response.status_code
        self.title = body.get("title", "Error")
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.isdigit():  # a 503 or a 409 "in progress" stays retryable through the gateway
            self.retry_after = int(retry_after)


# Where `make run` starts the services the gateway reaches over HTTP (CSV and document content, contact reads).
INTERNAL_URLS = {"contacts": "http://127.0.0.1:8001", "documents": "http://127.0.0.1:8003"}
_http = requests.Session()
_http.trust_env = False  # internal calls go straight to the service, never through a proxy from the environment
# Kept-alive connections to each service, as many as requests may be in flight to it at once (the
# default 10 would open and drop a connection for every call past the tenth).
_http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=int(env("CRM_INTERNAL_HTTP_POOL", "64"))))


def internal_http(
    service: str,
    method: str,
    path: str,
    key: bytes,
    caller: Scope,
    *,
    timeout: tuple,
    actor: str | None = None,
    params: dict | None = None,
    headers: dict | None = None,
    **kwargs,
) -> requests.Response:
    """A request to `service`'s internal HTTP (at `<SERVICE>_URL`), signed with `key` for `caller` (and
    `actor`) over exactly the address it goes to: the path and `params` as its query string, encoded
    once, here, so what a service verifies is what it received. 503 when it is not reachable; its
    problem documents pass through."""
    base = env(f"{service.upper()}_URL", INTERNAL_URLS[service]).rstrip("/")
    target = with_query(path, params)
    signed = {**(headers or {}), **signed_headers(key, method, target, caller, actor=actor)}
    try:
        response = _http.request(method, base + target, headers=signed, timeout=timeout, **kwargs)
    except requests.RequestException:
        raise ServiceUnavailable(f"the {service} service is not reachable") from None
    if response.status_code >= 400:
        raise PassThroughProblem(response)
    return response


def in_chunks(stream, size: int = 64 * 1024, up_to: int | None = None):
    """A request body as 64 KiB pieces for `requests` to send on (iterating a stream would give lines);
    with `up_to`, its first `up_to` bytes only."""
    left = up_to
    while (left is None or left > 0) and (chunk := stream.read(size if left is None else min(size, left))):
        if left is not None:
            left -= len(chunk)
        yield chunk
