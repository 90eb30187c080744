"""Two writers that both read version 1 of a contact on PostgreSQL: the database lets one win.

Through HTTP (tests/e2e/test_concurrency_http.py) the writers rarely overlap inside the service, so
the version check on read answers most of them. Here both are held after their read until both
have read, so the guard that matters under real load, `UPDATE ... WHERE version = 1`, decides.
"""

import eventlet
import pytest
from eventlet.event import Event
from service_workers import Workers
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from contacts import contacts as contact_records
from contacts.models import Contact, OutboxEvent
from contacts.service import ContactsService
from crm_kernel.errors import PreconditionFailed
from crm_kernel.migrations import upgrade


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # concurrent connections
def test_two_writers_of_the_same_version_one_wins_and_the_other_gets_412(database_url, monkeypatch):
    upgrade("contacts", database_url)
    engine = create_engine(database_url)
    contacts = Workers(ContactsService, engine, OutboxEvent)
    contact = contacts.create_contact({"first_name": "Ada", "emails": ["ada@example.com"]})
    read, both_read, live_contact = [], Event(), contact_records.live

    def read_then_wait_for_the_other(db, scope, contact_id, expected_version=None):
        found = live_contact(db, scope, contact_id, expected_version)  # passes: both see version 1
        read.append(found.version)
        if len(read) == 2:
            both_read.send(True)
        both_read.wait()
        return found

    monkeypatch.setattr(contact_records, "live", read_then_wait_for_the_other)

    def write(name):
        try:
            return contacts.update_contact(contact["id"], {"last_name": name}, 1)
        except PreconditionFailed as refused:
            return refused

    with eventlet.Timeout(60):
        outcomes = [writer.wait() for writer in [eventlet.spawn(write, name) for name in ("First", "Second")]]

    assert read == [1, 1]
    winners = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(winners) == 1 and sum(isinstance(outcome, PreconditionFailed) for outcome in outcomes) == 1
    with Session(engine) as session:
        stored = session.get(Contact, contact["id"])
        assert (stored.last_name, stored.version) == (winners[0]["last_name"], 2)
        updates = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "contact.updated")
        assert session.scalar(updates) == 1  # the loser's event rolled back with its change
    engine.dispose()
