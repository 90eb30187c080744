"""Errors that services raise and callers may expect, and their one mapping to HTTP problems.

Each error crosses RPC as itself (`deserialize_to_instance`), with its `detail` and per-field
`errors`, so the gateway answers with the service's own words.
"""

from nameko.exceptions import deserialize_to_instance


class CrmError(Exception):
    status = 500
    title = "Internal error"
    retry_after: int | None = None  # seconds, sent as `Retry-After` when set

    def __init__(self, detail: str = "", errors: dict | None = None):
        super().__init__(detail, errors or {})
        self.detail = detail
        self.errors = errors or {}

    def __str__(self):
        return self.detail


@deserialize_to_instance
class ValidationFailed(CrmError):
    """The input is wrong; `errors` names each field and what is wrong with it."""

    status = 422
    title = "Invalid input"


@deserialize_to_instance
class BadRequest(CrmError):
    status = 400
    title = "Bad request"


@deserialize_to_instance
class Unauthorized(CrmError):
    status = 401
    title = "Unauthorized"


@deserialize_to_instance
class Forbidden(CrmError):
    status = 403
    title = "Forbidden"


@deserialize_to_instance
class NotFound(CrmError):
    status = 404
    title = "Not found"


@deserialize_to_instance
class Conflict(CrmError):
    status = 409
    title = "Conflict"


@deserialize_to_instance
class PreconditionFailed(CrmError):
    status = 412
    title = "Precondition failed"


@deserialize_to_instance
class PayloadTooLarge(CrmError):
    status = 413
    title = "Payload too large"


@deserialize_to_instance
class TooManyRequests(CrmError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str = "", errors: dict | None = None, retry_after: int = 1):
        super().__init__(detail, errors)
        self.retry_after = retry_after


@deserialize_to_instance
class ServiceUnavailable(CrmError):
    status = 503
    title = "Service unavailable"
    retry_after = 5


# Exceptions of libraries that mean "a dependency is down, try again", by their type name as it
# arrives over RPC inside a RemoteError.
TRANSIENT_REMOTE_ERRORS = frozenset(
    {
        "OperationalError",
        "InterfaceError",
        "DisconnectionError",
        "TimeoutError",
        "ConnectionError",
    }
)


def problem(status: int, title: str, detail: str = "", errors: dict | None = None) -> dict:
    """An `application/problem+json` document (RFC 9457)."""
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        doc["errors"] = errors
    return doc
