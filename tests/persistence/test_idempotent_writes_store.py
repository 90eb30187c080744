"""The record of an idempotent write on SQLite and PostgreSQL: committed with the write, or neither."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.models import Contact, IdempotentWrite
from crm_kernel.db import get_engine
from crm_kernel.idempotency import IdempotentWrites
from crm_kernel.migrations import upgrade


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
