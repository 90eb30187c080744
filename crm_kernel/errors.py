"""Errors that services raise and callers may expect, and their one mapping to HTTP problems.

Each error crosses RPC as itself (`deserialize_to_instance`), with its `detail` and per-field
`errors`, so the gateway answers with the service's own words.
"""

import re

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
        # pg8000 lets a dropped socket's own error through unwrapped (seen at a PostgreSQL restart).
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
    }
)


# What PostgreSQL says when a database cannot be used right now, whatever the driver calls the error
# (pg8000 raises a FATAL at connection time, "database is not accepting connections" or "the database
# system is shutting down", as ProgrammingError): any FATAL (the session is gone), SQLSTATE class 08
# (connection exception) and 57P (operator intervention: shutdown, restart, crash).
_DATABASE_UNAVAILABLE = re.compile(r"'S': 'FATAL'|'C': '(08...|57P..)'")


def is_transient_failure(type_names, message: str) -> bool:
    """Whether an error (its type's name, or the names of its classes, and its message) means that a
    dependency is down and the same call may succeed later, rather than that the call is wrong."""
    names = {type_names} if isinstance(type_names, str) else set(type_names)
    return bool(names & TRANSIENT_REMOTE_ERRORS) or bool(_DATABASE_UNAVAILABLE.search(message or ""))


def problem(status: int, title: str, detail: str = "", errors: dict | None = None) -> dict:
    """An `application/problem+json` document (RFC 9457)."""
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        doc["errors"] = errors
    return doc
