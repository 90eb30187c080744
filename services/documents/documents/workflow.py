"""The approval workflow of a document, as a plain state machine.

draft -submit-> in_review -approve-> approved -sign-> signed -archive-> archived
                in_review -reject-> rejected -resubmit-> in_review, or -redraft-> draft

Approving and rejecting belong to a manager of the uploader's department or of a department above
it, or to an admin, and never to whoever uploaded the document or its current version (four eyes).
A signed document never changes: a new version supersedes it and goes back to draft, to be reviewed
again.
"""

from crm_kernel.errors import Conflict, Forbidden
from crm_kernel.scope import Scope

STATUSES = ("draft", "in_review", "approved", "rejected", "signed", "archived")
TRANSITIONS = {
    "submit": ({"draft"}, "in_review"),
    "approve": ({"in_review"}, "approved"),
    "reject": ({"in_review"}, "rejected"),
    "resubmit": ({"rejected"}, "in_review"),
    "redraft": ({"rejected"}, "draft"),
    "sign": ({"approved"}, "signed"),
    "archive": ({"signed"}, "archived"),
}
ACTIONS = tuple(TRANSITIONS)
REVIEW_ACTIONS = {"approve", "reject"}
REVISE = "revise"  # recorded when a new version sends a document back to draft


def next_status(status: str, action: str) -> str:
    """Where `action` takes a document in `status`; Conflict (409) when the workflow does not allow it."""
    allowed_from, to = TRANSITIONS[action]
    if status not in allowed_from:
        raise Conflict(
            f"{action} is not allowed for a document in {status}",
            {"action": [f"{action}: {status} -> {to} is not allowed"]},
        )
    return to


def may_review(scope: Scope | None, uploader_department_id: str | None) -> bool:
    """Admins, and managers whose subtree (their department and those below) holds the uploader's."""
    if scope is None or scope.unrestricted:
        return True  # a call with no user behind it (tooling) is trusted
    return (
        scope.role == "manager" and uploader_department_id is not None and uploader_department_id in scope.departments
    )


def check_reviewer(
    action: str, scope: Scope | None, uploader_department_id: str | None, uploaders: tuple[str | None, ...] = ()
) -> None:
    """403 unless the caller may review; four eyes: nobody among `uploaders` (of the document and of its
    current version) approves or rejects it, whatever their role."""
    if action not in REVIEW_ACTIONS:
        return
    if not may_review(scope, uploader_department_id):
        raise Forbidden(
            f"only a manager of the uploader's department or of one above it, or an admin, may {action}",
            {"action": [f"{action} needs a manager of the uploader's department or an admin"]},
        )
    if scope is not None and scope.user_id in uploaders:
        raise Forbidden(
            f"four eyes: who uploaded the document may not {action} it",
            {"action": [f"{action} needs someone other than the uploader"]},
        )


def status_after_new_version(status: str) -> str:
    """A new version must be reviewed again; an archived document takes no new versions (409)."""
    if status == "archived":
        raise Conflict("an archived document takes no new versions", {"file": ["the document is archived"]})
    return "draft"
