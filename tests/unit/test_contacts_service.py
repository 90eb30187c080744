"""The contacts service's methods, each in a Nameko worker over in-memory SQLite and a real outbox."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from contacts.models import Base, Contact, OutboxEvent
from contacts.service import ContactsService
from crm_kernel.errors import NotFound, PreconditionFailed, ValidationFailed


@pytest.fixture
def contacts(workers):
    return workers(ContactsService, Base, outbox_model=OutboxEvent)


def create(contacts, data):
    """Create a contact that duplicates none; the contact as it is read back."""
    created = contacts.create_contact(data)
    assert created.pop("duplicates") == []
    return created


def events(contacts):
    return [row.payload for row in contacts.rows(OutboxEvent, OutboxEvent.id)]


def test_creating_a_contact_commits_it_with_one_contact_created_event(contacts, contact_data):
    created = create(contacts, contact_data(first_name="Ada", emails=["Ada@Example.com"]))

    [stored] = contacts.rows(Contact)
    [row] = contacts.rows(OutboxEvent)
    assert stored.id == created["id"]
    assert (stored.first_name, stored.emails, stored.version) == ("Ada", ["ada@example.com"], 1)
    assert (row.type, row.event_id, row.sent_at) == ("contact.created", row.payload["event_id"], None)
    assert row.payload["type"] == "contact.created"
    assert row.payload["actor"] == "u1"
    assert row.payload["request_id"] == "r1"
    assert row.payload["entity"] == created
    assert datetime.fromisoformat(row.payload["occurred_at"]).utcoffset() == timedelta(0)


def test_a_created_contact_is_returned_with_its_id_version_and_utc_times(contacts, contact_data):
    created = create(contacts, contact_data())

    assert created["version"] == 1
    assert contacts.get_contact(created["id"]) == created
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None


def test_reading_a_contact_is_one_statement_without_its_matching_keys(contacts, contact_data):
    created = create(contacts, contact_data(tags=["vip"]))
    statements = []
    event.listen(contacts.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    assert contacts.get_contact(created["id"])["tags"] == ["vip"]
    [statement] = statements  # so it may run outside a transaction (crm_kernel.db.outside_transaction)
    assert "contact_tags" in statement and "contact_keys" not in statement


def test_invalid_input_creates_no_contact_and_no_event(contacts, contact_data):
    with pytest.raises(ValidationFailed) as refused:
        create(contacts, contact_data(first_name="", phones=["030 123456"]))

    assert set(refused.value.errors) == {"first_name", "phones"}
    assert contacts.rows(Contact) == []
    assert contacts.rows(OutboxEvent) == []


def test_an_update_records_each_changed_field_as_old_and_new(contacts, contact_data):
    created = create(contacts, contact_data(first_name="Ada", last_name="Byron", tags=["vip"]))

    updated = contacts.update_contact(
        created["id"], {"first_name": "Augusta", "last_name": "Byron", "tags": ["b2b", "vip"]}, expected_version=1
    )

    event = events(contacts)[-1]
    assert event["type"] == "contact.updated"
    assert event["changes"] == {"first_name": ["Ada", "Augusta"], "tags": [["vip"], ["b2b", "vip"]]}
    assert event["entity"] == updated
    assert (updated["version"], updated["first_name"], updated["tags"]) == (2, "Augusta", ["b2b", "vip"])
    assert contacts.get_contact(created["id"]) == updated


def test_an_update_that_changes_nothing_records_no_event(contacts, contact_data):
    created = create(contacts, contact_data(first_name="Ada", tags=["vip"]))

    unchanged = contacts.update_contact(created["id"], {"first_name": "Ada", "tags": ["vip", "vip"]})

    assert unchanged == created
    assert [e["type"] for e in events(contacts)] == ["contact.created"]
    assert contacts.rows(Contact)[0].version == 1


def test_an_update_with_a_stale_version_fails_and_changes_nothing(contacts, contact_data):
    created = create(contacts, contact_data(first_name="Ada"))
    current = contacts.update_contact(created["id"], {"first_name": "Augusta"}, expected_version=1)

    with pytest.raises(PreconditionFailed):
        contacts.update_contact(created["id"], {"first_name": "Grace"}, expected_version=1)

    assert contacts.get_contact(created["id"]) == current
    assert [e["type"] for e in events(contacts)] == ["contact.created", "contact.updated"]


def test_an_update_that_lost_a_race_fails_and_changes_nothing(contacts, contact_data):
    created = create(contacts, contact_data(first_name="Ada"))
    with Session(contacts.engine, expire_on_commit=False) as session:
        # The slow worker holds the contact as read at version 1 while another worker changes it.
        read_at_version_1 = session.get(Contact, created["id"])  # noqa: F841 - held, as during a call
        winner = contacts.update_contact(created["id"], {"first_name": "Augusta"})

        with pytest.raises(PreconditionFailed):
            contacts.worker(session).update_contact(created["id"], {"first_name": "Grace"})

    assert contacts.get_contact(created["id"]) == winner
    assert [e["type"] for e in events(contacts)] == ["contact.created", "contact.updated"]


def test_an_invalid_update_changes_nothing(contacts, contact_data):
    created = create(contacts, contact_data())

    with pytest.raises(ValidationFailed) as refused:
        contacts.update_contact(created["id"], {"first_name": "Ada", "emails": ["nope"]})

    assert list(refused.value.errors) == ["emails"]
    assert contacts.get_contact(created["id"]) == created
    assert len(contacts.rows(OutboxEvent)) == 1


def test_a_deleted_contact_is_gone_from_reads_and_lists_but_kept_with_a_contact_deleted_event(contacts, contact_data):
    kept = create(contacts, contact_data())
    deleted = create(contacts, contact_data())

    contacts.delete_contact(deleted["id"], expected_version=1)

    with pytest.raises(NotFound):
        contacts.get_contact(deleted["id"])
    assert [c["id"] for c in contacts.list_contacts({})["items"]] == [kept["id"]]
    assert {c.id for c in contacts.rows(Contact)} == {kept["id"], deleted["id"]}
    assert events(contacts)[-1]["type"] == "contact.deleted"
    assert events(contacts)[-1]["entity"]["id"] == deleted["id"]


def test_a_deleted_contact_cannot_be_updated_or_deleted_again(contacts, contact_data):
    created = create(contacts, contact_data())
    contacts.delete_contact(created["id"])

    with pytest.raises(NotFound):
        contacts.update_contact(created["id"], {"first_name": "Grace"})
    with pytest.raises(NotFound):
        contacts.delete_contact(created["id"])


def test_contacts_are_found_by_any_part_of_a_name_email_or_phone_ignoring_case(contacts, contact_data):
    ada = create(contacts, contact_data(first_name="Ada", emails=["ada@analytical.engine"]))
    create(contacts, contact_data(first_name="Grace", emails=["grace@navy.mil"], phones=["+4930123456"]))

    def found(q):
        return [c["first_name"] for c in contacts.list_contacts({"q": q})["items"]]

    assert [c["id"] for c in contacts.list_contacts({"q": "ANALYTICAL"})["items"]] == [ada["id"]]
    assert found("gra") == ["Grace"]
    assert found("30123") == ["Grace"]
    assert found("nobody") == []


def test_contacts_are_listed_by_tag(contacts, contact_data):
    vip = create(contacts, contact_data(tags=["vip", "b2b"]))
    create(contacts, contact_data(tags=["b2b"]))

    assert [c["id"] for c in contacts.list_contacts({"tag": "vip"})["items"]] == [vip["id"]]
