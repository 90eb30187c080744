"""Who sees and changes which interactions records: the rules, and the service applying them."""

import pytest

from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_kernel.outbox import make_event
from crm_kernel.scope import Scope
from interactions.access import OWNERS
from interactions.models import Base, Deal, OutboxEvent, Ticket
from interactions.service import InteractionsService

# HQ > Sales > Berlin, HQ > Support
MANAGER_SALES = Scope("m-sales", "manager", "sales", ("sales", "berlin"))
AGENT_BERLIN = Scope("a-berlin", "agent", "berlin", ("berlin",))
AGENT_SUPPORT = Scope("a-support", "agent", "support", ("support",))
ANALYST = Scope("an", "analyst", "hq", ("hq",))


@pytest.fixture
def as_(workers):
    """`as_(scope)`: the service called as the user of `scope` (no argument: for the system, which sees everything)."""
    return workers(InteractionsService, Base, OutboxEvent).as_


def ticket(**fields):
    return {"contact_id": "c1", "subject": "Broken", "priority": "normal", "department_id": "berlin"} | fields


# -- the plain rules ---------------------------------------------------------------------------


def sees(scope, record) -> bool:
    """The kernel's rule applied to a record by this service's owner columns (as `access.scoped` does)."""
    owners = OWNERS[type(record)]
    return scope.sees({name: getattr(record, name) for name in (*owners, "department_id")}, owners=owners)


def test_an_agent_sees_what_is_assigned_to_them_or_shared_in_their_department_only():
    assert sees(AGENT_BERLIN, Ticket(assignee_id="a-berlin", department_id="support"))
    assert sees(AGENT_BERLIN, Ticket(assignee_id=None, department_id="berlin"))
    assert not sees(AGENT_BERLIN, Ticket(assignee_id="someone", department_id="sales"))


def test_a_manager_sees_their_department_and_below_but_not_a_sibling_nor_what_is_merely_theirs():
    assert sees(MANAGER_SALES, Deal(owner_id=None, department_id="berlin"))
    assert not sees(MANAGER_SALES, Deal(owner_id="x", department_id="support"))
    assert not sees(MANAGER_SALES, Deal(owner_id="m-sales", department_id="support"))


def test_an_analyst_sees_no_record_a_call_without_a_scope_none_and_one_for_the_system_all():
    assert not sees(ANALYST, Deal(owner_id="an", department_id="hq"))
    assert not sees(Scope.nobody(), Deal(owner_id="x", department_id="anywhere"))
    assert sees(Scope.system(), Deal(owner_id="x", department_id="anywhere"))


def test_a_manager_may_place_records_anywhere_in_their_subtree_an_agent_only_in_their_department():
    assert MANAGER_SALES.may_place("berlin") and MANAGER_SALES.may_place("sales")
    assert not MANAGER_SALES.may_place("support") and not MANAGER_SALES.may_place(None)
    assert AGENT_BERLIN.may_place("berlin") and not AGENT_BERLIN.may_place("sales")
    assert not ANALYST.may_place("hq")
    assert Scope("ad", "admin", None).may_place(None)


# -- the service applying them -----------------------------------------------------------------


def test_lists_hold_only_visible_records_so_pages_stay_full(as_):
    for department in ("berlin", "support", "berlin", "support", "berlin"):
        as_().create_ticket(ticket(department_id=department))

    page = as_(AGENT_BERLIN).list_tickets({"limit": 2})
    second = as_(AGENT_BERLIN).list_tickets({"limit": 2, "cursor": page["next_cursor"]})

    assert [len(page["items"]), len(second["items"]), second["next_cursor"]] == [2, 1, None]
    assert {item["department_id"] for item in page["items"] + second["items"]} == {"berlin"}
    assert len(as_(MANAGER_SALES).list_tickets({})["items"]) == 3
    assert as_(ANALYST).list_tickets({})["items"] == []


def test_a_hidden_record_reads_and_writes_as_absent_even_with_a_stale_version(as_):
    hidden = as_().create_ticket(ticket(department_id="support"))

    for attempt in (
        lambda: as_(AGENT_BERLIN).get_ticket(hidden["id"]),
        lambda: as_(MANAGER_SALES).update_ticket(hidden["id"], {"subject": "x"}, 99),
        lambda: as_(AGENT_BERLIN).transition_ticket(hidden["id"], {"status": "open"}),
        lambda: as_(AGENT_BERLIN).comment_ticket(hidden["id"], {"body": "hi", "internal": True}),
        lambda: as_(AGENT_BERLIN).delete_ticket(hidden["id"]),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert as_().get_ticket(hidden["id"])["version"] == hidden["version"]
    with pytest.raises(PreconditionFailed):  # the caller who may see it learns about the version
        as_(AGENT_SUPPORT).update_ticket(hidden["id"], {"subject": "x"}, 99)


def test_no_one_puts_a_record_in_a_department_they_may_not_see(as_):
    with pytest.raises(ValidationFailed) as refused:
        as_(AGENT_BERLIN).create_ticket(ticket(department_id="sales"))
    assert "department_id" in refused.value.errors

    mine = as_(AGENT_BERLIN).create_ticket(ticket())
    with pytest.raises(ValidationFailed):
        as_(MANAGER_SALES).update_ticket(mine["id"], {"department_id": "support"})
    moved = as_(MANAGER_SALES).update_ticket(mine["id"], {"department_id": "sales"})  # across its subtree
    assert moved["department_id"] == "sales"


def test_no_one_hands_a_record_to_a_user_of_a_department_they_may_not_see(as_):
    user = {"id": "u-support", "email": "s@example.com", "role": "agent", "department_id": "support"}
    as_().on_user_created(make_event("user.created", user, {}))
    deal = {"contact_id": "c1", "title": "T", "amount": "1", "currency": "EUR", "department_id": "berlin"}

    with pytest.raises(ValidationFailed) as refused:
        as_(AGENT_BERLIN).create_deal(deal | {"owner_id": "u-support"})

    assert "owner_id" in refused.value.errors
    assert as_().list_deals({})["items"] == []


def test_a_timeline_shows_only_the_items_the_caller_may_see(as_):
    as_().create_ticket(ticket(department_id="berlin"))
    as_().create_ticket(ticket(department_id="support"))
    document = {"id": "doc1", "title": "Offer", "contact_id": "c1", "created_at": "2026-03-01T10:00:00+00:00"}
    as_().on_document_created(
        make_event("document.created", document | {"uploaded_by": "x", "uploaded_by_department_id": "sales"}, {})
    )

    kinds = [
        (item["kind"], item["entity"].get("department_id"))
        for item in as_(MANAGER_SALES).contact_timeline("c1", {})["items"]
    ]
    berlin = as_(AGENT_BERLIN).contact_timeline("c1", {})["items"]

    assert sorted(kinds, key=str) == [("document", None), ("ticket", "berlin")]
    assert [item["entity"]["department_id"] for item in berlin] == ["berlin"]
    assert len(as_().contact_timeline("c1", {})["items"]) == 3


def test_a_call_that_carries_no_scope_sees_nothing_and_writes_nothing(as_):
    as_().create_ticket(ticket(department_id="berlin"))
    nobody = as_(Scope.nobody())

    with pytest.raises(ValidationFailed) as refused:
        nobody.create_ticket(ticket(department_id="berlin"))

    assert refused.value.errors == {"department_id": ["not a department you may see"]}
    assert nobody.list_tickets({})["items"] == []
    assert len(as_().list_tickets({})["items"]) == 1
