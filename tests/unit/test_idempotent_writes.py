"""A create retried with its idempotency key returns its first answer and writes nothing twice: the
key is recorded in the commit of the write it guards (crm_kernel.idempotency)."""

import pytest
from sqlalchemy.orm import Session

from contacts.models import Base as ContactsBase
from contacts.models import Contact, IdempotentWrite
from contacts.models import OutboxEvent as ContactEvent
from contacts.service import ContactsService
from crm_kernel.idempotency import IdempotentWrites, call_key
from interactions.models import Base as InteractionsBase
from interactions.models import Deal, Interaction, Task, Ticket
from interactions.models import OutboxEvent as InteractionEvent
from interactions.service import InteractionsService


@pytest.fixture
def contacts(workers):
    return workers(ContactsService, ContactsBase, outbox_model=ContactEvent)


@pytest.fixture
def interactions(workers):
    return workers(InteractionsService, InteractionsBase, outbox_model=InteractionEvent)


def test_a_contact_created_again_with_its_key_is_the_first_answer_and_one_contact(contacts, contact_data):
    retried = contacts.with_key(call_key("caller-1", "k-1"))
    data = contact_data()

    first = retried.create_contact(data)
    again = retried.create_contact(data)

    assert again == first
    assert [c.id for c in contacts.rows(Contact)] == [first["id"]]
    assert [e.type for e in contacts.rows(ContactEvent)] == ["contact.created"]
    [record] = contacts.rows(IdempotentWrite)
    assert (record.method, record.answer["id"]) == ("create_contact", first["id"])


def test_the_same_key_from_another_caller_or_no_key_creates_again(contacts, contact_data):
    data = contact_data()
    one = contacts.with_key(call_key("caller-1", "k-1")).create_contact(data)
    other = contacts.with_key(call_key("caller-2", "k-1")).create_contact(data)
    keyless = contacts.create_contact(data)

    assert len({one["id"], other["id"], keyless["id"]}) == 3
    assert len(contacts.rows(IdempotentWrite)) == 2


def test_every_create_of_interactions_is_answered_once_per_key(interactions):
    retried = interactions.with_key(call_key("caller-1", "k-2"))
    calls = {
        Interaction: ("create_interaction", {"contact_id": "c1", "channel": "call", "direction": "inbound",
                                             "occurred_at": "2026-11-30T10:00:00+01:00"}),
        Ticket: ("create_ticket", {"contact_id": "c1", "subject": "Broken engine", "priority": "high"}),
        Deal: ("create_deal", {"contact_id": "c1", "title": "3 engines", "amount": "10", "currency": "EUR"}),
        Task: ("create_task", {"title": "Call back", "due_at": "2026-12-10T15:00:00+00:00"}),
    }  # fmt: skip
    for model, (method, data) in calls.items():
        first = getattr(retried, method)(data)
        assert getattr(retried, method)(data) == first, method
        assert [row.id for row in interactions.rows(model)] == [first["id"]], method


def test_a_racing_second_write_with_the_key_rolls_back_and_gets_the_first_answer(contacts, contact_data):
    key = call_key("caller-1", "k-3")
    first = contacts.with_key(key).create_contact(contact_data())
    with Session(contacts.engine) as session:
        # The race: this worker checked before the first committed, wrote, and now commits.
        session.add(Contact(first_name="Late", last_name="Writer", emails=[], phones=[], tags=[], attributes={}))
        answer = IdempotentWrites(IdempotentWrite, key, "create_contact").commit(session, {"id": "second"})

    assert answer == first
    assert [c.id for c in contacts.rows(Contact)] == [first["id"]]


def test_a_write_that_breaks_a_constraint_still_fails_under_a_key(contacts):
    with Session(contacts.engine) as session:
        session.add(Contact(id="x", first_name="A", last_name="B", emails=[], phones=[], tags=[], attributes={}))
        session.commit()
        session.add(Contact(id="x", first_name="A", last_name="B", emails=[], phones=[], tags=[], attributes={}))
        with pytest.raises(Exception, match="UNIQUE"):
            IdempotentWrites(IdempotentWrite, "k", "create_contact").commit(session, {"id": "x"})
