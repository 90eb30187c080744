"""Which failures mean "a dependency is down, retry" (503 with Retry-After; an event requeued, never
parked) and which mean the call itself is wrong."""

import pytest

from crm_kernel.errors import is_transient_failure

NOT_ACCEPTING = (
    "(pg8000.dbapi.ProgrammingError) {'S': 'FATAL', 'V': 'FATAL', 'C': '55000', "
    "'M': 'database \"chaos_contacts\" is not accepting connections'}"
)
SHUTTING_DOWN = (
    "(pg8000.dbapi.ProgrammingError) {'S': 'FATAL', 'C': '57P03', 'M': 'the database system is shutting down'}"
)
TERMINATED = "(pg8000.dbapi.DatabaseError) {'S': 'ERROR', 'C': '57P01', 'M': 'terminating connection'}"
SYNTAX = "(pg8000.dbapi.ProgrammingError) {'S': 'ERROR', 'V': 'ERROR', 'C': '42601', 'M': 'syntax error'}"
UNIQUE = "(pg8000.dbapi.IntegrityError) {'S': 'ERROR', 'C': '23505', 'M': 'duplicate key value'}"


@pytest.mark.parametrize(
    ("type_name", "message", "transient"),
    [
        ("ProgrammingError", NOT_ACCEPTING, True),  # a database refusing connections (pg8000's name for it)
        ("ProgrammingError", SHUTTING_DOWN, True),  # PostgreSQL restarting
        ("DatabaseError", TERMINATED, True),  # a session killed by an administrator
        ("OperationalError", "connection refused", True),
        ("InterfaceError", "network error", True),
        ("ProgrammingError", SYNTAX, False),  # a defect: a 500 that is logged
        ("IntegrityError", UNIQUE, False),
        ("ValueError", "cannot apply this event", False),
    ],
)
def test_a_failure_is_transient_only_when_a_dependency_is_unavailable(type_name, message, transient):
    assert is_transient_failure(type_name, message) is transient
    assert is_transient_failure([type_name, "Exception"], message) is transient
