"""The approval workflow and who may review, as plain functions: no broker, no database."""

import pytest

from crm_kernel.errors import Conflict, Forbidden
from crm_kernel.scope import Scope
from documents.workflow import ACTIONS, TRANSITIONS, check_reviewer, may_review, next_status, status_after_new_version


def manager_of(*departments: str) -> Scope:
    return Scope("m1", "manager", departments[0], departments)


def test_a_document_goes_from_draft_through_review_and_signature_to_the_archive():
    status = "draft"
    for action in ("submit", "approve", "sign", "archive"):
        status = next_status(status, action)
    assert status == "archived"


def test_a_rejected_document_can_be_resubmitted_or_taken_back_to_draft():
    assert next_status("rejected", "resubmit") == "in_review"
    assert next_status("rejected", "redraft") == "draft"
    assert next_status("in_review", "reject") == "rejected"


@pytest.mark.parametrize(
    "status, action",
    [
        ("draft", "approve"),
        ("draft", "sign"),
        ("in_review", "sign"),
        ("approved", "submit"),
        ("signed", "approve"),
        ("archived", "submit"),
        ("rejected", "approve"),
        ("signed", "reject"),
    ],
)
def test_a_move_the_workflow_does_not_allow_is_a_conflict_naming_the_action(status, action):
    with pytest.raises(Conflict) as raised:
        next_status(status, action)
    assert raised.value.status == 409
    assert f"{action}: {status} ->" in raised.value.errors["action"][0]


def test_every_action_leads_from_somewhere_to_a_known_status():
    assert set(ACTIONS) == {"submit", "approve", "reject", "resubmit", "redraft", "sign", "archive"}
    assert all(sources and target for sources, target in TRANSITIONS.values())


def test_a_manager_reviews_documents_of_their_department_and_those_below_it():
    manager = manager_of("sales", "sales-north", "sales-south")
    assert may_review(manager, "sales") and may_review(manager, "sales-north")
    assert not may_review(manager, "support")
    assert not may_review(manager, None)


def test_an_admin_reviews_everything_and_agents_and_analysts_review_nothing():
    assert may_review(Scope("a1", "admin", "hq", ("hq",)), "anywhere")
    assert not may_review(Scope("u1", "agent", "sales", ("sales",)), "sales")
    assert not may_review(Scope("u2", "analyst", "sales", ("sales",)), "sales")


def test_reviewing_by_the_wrong_role_is_forbidden_but_other_actions_are_not_checked():
    agent = Scope("u1", "agent", "sales", ("sales",))
    with pytest.raises(Forbidden) as raised:
        check_reviewer("approve", agent, "sales")
    assert raised.value.status == 403 and "action" in raised.value.errors
    check_reviewer("submit", agent, "sales")
    check_reviewer("sign", agent, "sales")


@pytest.mark.parametrize("status", ["draft", "in_review", "approved", "rejected", "signed"])
def test_a_new_version_sends_the_document_back_to_draft(status):
    assert status_after_new_version(status) == "draft"


def test_an_archived_document_takes_no_new_version():
    with pytest.raises(Conflict):
        status_after_new_version("archived")
