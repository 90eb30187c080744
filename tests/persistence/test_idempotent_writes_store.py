"""The record of an idempotent write on SQLite and PostgreSQL: committed with the write, or neither."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts import contacts
from contacts.models import Contact, ContactKey, ContactTag, IdempotentWrite, OutboxEvent
from crm_kernel.db import get_engine
from crm_kernel.idempotency import IdempotentWrites
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.scope import Scope


@pytest.fixture
def engine(database_url):
    upgrade("contacts", database_url)
    return get_engine(database_url)


def contact(name: str) -> Contact:
    written = Contact(first_name=name, last_name="Lovelace", emails=[], phones=[], attributes={})
    written.refresh_search_text()
    return written


def test_the_answer_is_committed_with_the_write_and_a_racing_twin_rolls_back(engine):
    writes = IdempotentWrites(IdempotentWrite, "k" * 64, "create_contact")
    with Session(engine) as first:
        assert writes.first_answer(first) is None
        first.add(contact("First"))
        assert writes.commit(first, {"id": "first"}) == {"id": "first"}
    # The twin checked before the first committed (a session per process on SQLite, so in turn here).
    with Session(engine) as twin:
        twin.add(contact("Twin"))
        assert writes.commit(twin, {"id": "twin"}) == {"id": "first"}

    with Session(engine) as session:
        assert session.scalars(select(Contact.first_name)).all() == ["First"]
        assert session.scalar(select(func.count()).select_from(IdempotentWrite)) == 1
        assert IdempotentWrites(IdempotentWrite, "k" * 64, "create_contact").first_answer(session) == {"id": "first"}


def test_a_contact_create_racing_its_twin_writes_none_of_its_rows_and_answers_the_first(engine):
    writes = IdempotentWrites(IdempotentWrite, "k" * 64, "create_contact")

    def create(name: str) -> dict:
        # `contacts.create` as its worker runs it once the first-answer check found nothing (both twins did).
        data = {"first_name": name, "emails": [f"{name}@example.com"], "phones": ["+14155550100"], "tags": ["vip"]}
        with Session(engine, expire_on_commit=False) as session:
            outbox = OutboxRecorder(OutboxEvent, {})
            return contacts.create(session, Scope.system(), data, outbox=outbox, once=writes)

    first = create("first")
    twin = create("twin")

    assert twin == first
    with Session(engine) as session:
        # The contact, its keys, its tag and its event were one write with the record: none of the twin's stayed.
        assert session.scalars(select(Contact.first_name)).all() == ["first"]
        for model in (ContactKey, ContactTag, OutboxEvent):
            assert set(session.scalars(select(model.contact_id if model is not OutboxEvent else model.entity_id))) == {
                first["id"]
            }
        assert session.scalar(select(func.count()).select_from(ContactKey)) == 2
        assert session.scalar(select(func.count()).select_from(IdempotentWrite)) == 1
