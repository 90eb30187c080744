"""Contacts and companies the caller may not see stay invisible on every path: duplicates, merges,
restores, and placing a company in another department."""

import csv
import io

import pytest
from sqlalchemy.orm import Session

from contacts import export
from contacts.importer import import_csv
from contacts.models import Base, Company, Contact, OutboxEvent, UserReplica
from contacts.service import ContactsService
from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.outbox import OutboxRecorder, make_event
from crm_kernel.scope import Scope

BERLIN_AGENT = Scope("a-berlin", "agent", "berlin", ("berlin",))
SUPPORT_AGENT = Scope("a-support", "agent", "support", ("support",))
SALES_MANAGER = Scope("m-sales", "manager", "sales", ("sales", "berlin"))


@pytest.fixture
def contacts(workers):
    return workers(ContactsService, Base, outbox_model=OutboxEvent)


def test_a_duplicate_in_another_department_is_not_revealed(contacts, contact_data):
    support = contacts.as_(SUPPORT_AGENT).create_contact(
        contact_data(emails=["ada@example.com"], department_id="support")
    )

    mine = contacts.as_(BERLIN_AGENT).create_contact(contact_data(emails=["ada@example.com"], department_id="berlin"))
    manager_sees = contacts.as_(SALES_MANAGER).contact_duplicates(mine["id"])

    assert mine["duplicates"] == []
    assert support["id"] not in [candidate["id"] for candidate in manager_sees["items"]]
    assert [c["id"] for c in contacts.contact_duplicates(mine["id"])["items"]] == [support["id"]]  # an admin's view


def test_a_contact_of_another_department_cannot_be_merged_away(contacts, contact_data):
    support = contacts.as_(SUPPORT_AGENT).create_contact(contact_data(department_id="support"))
    mine = contacts.as_(BERLIN_AGENT).create_contact(contact_data(department_id="berlin"))
    events_before = len(contacts.rows(OutboxEvent))

    with pytest.raises(ValidationFailed) as refused:
        contacts.as_(BERLIN_AGENT).merge_contacts(mine["id"], {"source_ids": [support["id"]]})

    assert refused.value.errors == {"source_ids": [f"unknown contact {support['id']}"]}
    stored = {row.id: row for row in contacts.rows(Contact)}
    assert stored[support["id"]].deleted_at is None and stored[support["id"]].merged_into is None
    assert len(contacts.rows(OutboxEvent)) == events_before


def test_a_merge_of_another_departments_contacts_cannot_be_undone(contacts, contact_data):
    target = contacts.as_(SUPPORT_AGENT).create_contact(contact_data(department_id="support"))
    source = contacts.as_(SUPPORT_AGENT).create_contact(contact_data(department_id="support"))
    merge = contacts.as_(SUPPORT_AGENT).merge_contacts(target["id"], {"source_ids": [source["id"]]})

    with pytest.raises(NotFound, match="merge"):
        contacts.as_(BERLIN_AGENT).undo_merge(merge["merge_id"])

    assert {row.id: row.merged_into for row in contacts.rows(Contact)}[source["id"]] == target["id"]


def test_a_deleted_company_of_another_department_cannot_be_restored(contacts):
    company = contacts.as_(SUPPORT_AGENT).create_company({"name": "Acme", "department_id": "support"})
    contacts.as_(SUPPORT_AGENT).delete_company(company["id"])

    with pytest.raises(NotFound):
        contacts.as_(BERLIN_AGENT).restore_company(company["id"])

    [stored] = contacts.rows(Company)
    assert stored.deleted_at is not None


@pytest.mark.parametrize("scope", [BERLIN_AGENT, SALES_MANAGER])
def test_no_one_puts_a_company_in_a_department_they_may_not_see(contacts, scope):
    with pytest.raises(ValidationFailed) as refused:
        contacts.as_(scope).create_company({"name": "Acme", "department_id": "support"})
    mine = contacts.as_(scope).create_company({"name": "Own", "department_id": "berlin"})
    with pytest.raises(ValidationFailed) as moved:
        contacts.as_(scope).update_company(mine["id"], {"department_id": "support"})

    assert "department_id" in refused.value.errors and "department_id" in moved.value.errors
    assert [(row.name, row.department_id) for row in contacts.rows(Company)] == [("Own", "berlin")]


def import_as(contacts, scope, text: str) -> dict:
    with Session(contacts.engine, expire_on_commit=False) as session:
        outbox = OutboxRecorder(OutboxEvent, {"actor": scope.user_id, "request_id": "r1"})
        defaults = {"owner_id": scope.user_id, "department_id": scope.department_id}
        return import_csv(
            session, io.BytesIO(text.encode()), outbox=outbox, definitions={}, defaults=defaults, scope=scope
        )


def test_an_import_places_rows_only_where_the_caller_may_and_names_each_refused_line(contacts, checked_where):
    report = import_as(
        contacts,
        BERLIN_AGENT,
        "first_name,email,department_id\nAda,ada@example.com,\nGrace,grace@example.com,support\nAlan,alan@example.com,berlin\n",
    )

    assert (report["created"], report["failed"]) == (2, 1)
    assert report["errors"] == [
        {"line": 3, "errors": {"department_id": ["not a department you may assign records to"]}}
    ]
    assert sorted((row.first_name, row.department_id) for row in contacts.rows(Contact)) == [
        ("Ada", "berlin"),
        ("Alan", "berlin"),
    ]


def test_an_import_does_not_update_a_contact_the_caller_may_not_see(contacts, contact_data, checked_where):
    hidden = contacts.as_(SUPPORT_AGENT).create_contact(
        contact_data(emails=["ada@example.com"], department_id="support")
    )

    report = import_as(contacts, BERLIN_AGENT, "first_name,last_name,email\nAda,Changed,ada@example.com\n")

    assert (report["created"], report["updated"]) == (1, 0)
    stored = {row.id: row for row in contacts.rows(Contact)}
    assert stored[hidden["id"]].last_name == hidden["last_name"] and stored[hidden["id"]].version == 1


def user_event(user_id: str, department_id: str, event_type: str = "user.created", active: bool = True) -> dict:
    return make_event(event_type, {"id": user_id, "department_id": department_id, "active": active}, {})


def test_an_import_hands_contacts_only_to_active_users_the_caller_may_see(contacts, checked_where):
    handlers = {"user.created": contacts.on_user_created, "user.deleted": contacts.on_user_deleted}
    for event in (
        user_event("u-berlin", "berlin"),
        user_event("u-support", "support"),
        user_event("u-gone", "berlin"),
        user_event("u-gone", "berlin", "user.deleted"),
    ):
        handlers[event["type"]](event)

    report = import_as(
        contacts,
        BERLIN_AGENT,
        "first_name,email,owner_id\n"
        "Ada,ada@example.com,u-berlin\nGrace,grace@example.com,u-support\n"
        "Alan,alan@example.com,u-gone\nEdsger,edsger@example.com,\n",
    )

    assert (report["created"], report["failed"]) == (2, 2)
    assert [(error["line"], error["errors"]) for error in report["errors"]] == [
        (3, {"owner_id": ["not a user you may hand records to"]}),
        (4, {"owner_id": ["not a user you may hand records to"]}),
    ]
    assert sorted((row.first_name, row.owner_id) for row in contacts.rows(Contact)) == [
        ("Ada", "u-berlin"),
        ("Edsger", "a-berlin"),
    ]


def test_a_redelivered_user_event_is_applied_once(contacts):
    moved = user_event("u1", "support", "user.updated")
    contacts.on_user_created(user_event("u1", "berlin"))
    contacts.on_user_updated(moved)
    contacts.on_user_updated(user_event("u1", "berlin", "user.updated"))

    contacts.on_user_updated(moved)  # the older change again: already applied, not applied twice

    [user] = contacts.rows(UserReplica)
    assert (user.department_id, user.active) == ("berlin", True)


def test_a_company_out_of_sight_reads_as_unknown_and_so_does_a_tag_only_it_carries(contacts, contact_data):
    company = contacts.as_(SUPPORT_AGENT).create_company({"name": "Acme", "department_id": "support"})
    contacts.as_(SUPPORT_AGENT).create_contact(contact_data(department_id="support", tags=["secret-deal"]))
    answers = []
    for company_id in (company["id"], "0" * 32):  # out of sight, and no company at all
        with pytest.raises(ValidationFailed) as refused:
            contacts.as_(BERLIN_AGENT).create_contact(contact_data(department_id="berlin", company_id=company_id))
        answers.append((refused.value.detail, refused.value.errors))
    assert answers[0] == answers[1] == ("invalid fields: company_id", {"company_id": ["unknown company"]})
    for tag in ("secret-deal", "never-used"):
        assert contacts.as_(BERLIN_AGENT).list_contacts({"tag": tag})["items"] == []


@pytest.mark.parametrize("scope", [BERLIN_AGENT, SALES_MANAGER])
def test_only_an_admin_takes_a_contact_out_of_every_department(contacts, contact_data, scope):
    mine = contacts.as_(scope).create_contact(contact_data(department_id="berlin"))
    with pytest.raises(ValidationFailed) as refused:
        contacts.as_(scope).update_contact(mine["id"], {"department_id": None})
    assert list(refused.value.errors) == ["department_id"]
    assert contacts.as_(scope).get_contact(mine["id"])["department_id"] == "berlin"
    assert contacts.update_contact(mine["id"], {"department_id": None})["department_id"] is None  # an admin


ADMIN = Scope("admin", "admin", "hq", ("hq", "sales", "berlin", "support"))


def replicate_users(contacts) -> None:
    for event in (
        user_event("u-berlin", "berlin"),
        user_event("u-support", "support"),
        user_event("u-gone", "berlin"),
    ):
        contacts.on_user_created(event)
    contacts.on_user_deleted(user_event("u-gone", "berlin", "user.deleted"))


def owner_refused(call) -> bool:
    with pytest.raises(ValidationFailed) as refused:
        call()
    return refused.value.errors == {"owner_id": ["not a user you may hand records to"]}


def test_a_contact_goes_only_to_an_active_user_the_caller_may_place_records_for(contacts, contact_data):
    replicate_users(contacts)
    agent, manager, admin = contacts.as_(BERLIN_AGENT), contacts.as_(SALES_MANAGER), contacts.as_(ADMIN)
    mine = agent.create_contact(contact_data(department_id="berlin", owner_id="a-berlin"))  # themselves

    assert owner_refused(lambda: agent.create_contact(contact_data(department_id="berlin", owner_id="u-support")))
    assert owner_refused(lambda: agent.update_contact(mine["id"], {"owner_id": "u-gone"}))
    assert owner_refused(lambda: manager.update_contact(mine["id"], {"owner_id": "u-support"}))
    assert owner_refused(lambda: admin.update_contact(mine["id"], {"owner_id": "0" * 32}))  # no such user
    assert agent.update_contact(mine["id"], {"owner_id": "u-berlin"})["owner_id"] == "u-berlin"  # a colleague
    assert admin.update_contact(mine["id"], {"owner_id": "u-support"})["owner_id"] == "u-support"
    assert [(row.id, row.owner_id, row.version) for row in contacts.rows(Contact)] == [(mine["id"], "u-support", 3)]


def test_a_company_goes_only_to_an_active_user_the_caller_may_place_records_for(contacts):
    # The rule lives here, not in the gateway: the same as a contact's (`placement.refused_owners`).
    replicate_users(contacts)
    agent, manager, admin = contacts.as_(BERLIN_AGENT), contacts.as_(SALES_MANAGER), contacts.as_(ADMIN)
    mine = agent.create_company({"name": "Acme", "department_id": "berlin", "owner_id": "a-berlin"})  # themselves
    events = len(contacts.rows(OutboxEvent))

    assert owner_refused(
        lambda: agent.create_company({"name": "X", "department_id": "berlin", "owner_id": "u-support"})
    )
    with pytest.raises(ValidationFailed) as nul:  # refused by the wire format before anyone is looked up
        agent.create_company({"name": "X", "department_id": "berlin", "owner_id": "\x00"})
    assert list(nul.value.errors) == ["owner_id"]
    assert owner_refused(lambda: agent.update_company(mine["id"], {"owner_id": "u-gone"}))  # no longer active
    assert owner_refused(lambda: manager.update_company(mine["id"], {"owner_id": "u-support"}))  # out of the subtree
    assert owner_refused(lambda: manager.update_company(mine["id"], {"owner_id": "0" * 32}))  # reads the same: nobody
    assert owner_refused(lambda: admin.update_company(mine["id"], {"owner_id": "0" * 32}))  # no such user
    assert len(contacts.rows(OutboxEvent)) == events
    assert [(row.owner_id, row.version) for row in contacts.rows(Company)] == [("a-berlin", 1)]

    assert agent.update_company(mine["id"], {"owner_id": "u-berlin"})["owner_id"] == "u-berlin"  # a colleague
    theirs = manager.create_company({"name": "Beta", "department_id": "berlin", "owner_id": "u-berlin"})
    assert admin.update_company(mine["id"], {"owner_id": "u-support"})["owner_id"] == "u-support"
    stored = {row.id: (row.owner_id, row.version) for row in contacts.rows(Company)}
    assert stored == {mine["id"]: ("u-support", 3), theirs["id"]: ("u-berlin", 1)}


def test_an_import_hands_no_contact_to_a_user_nobody_knows(contacts, checked_where):
    replicate_users(contacts)

    report = import_as(contacts, ADMIN, "first_name,email,owner_id\nAda,ada@example.com,u-nobody\n")

    assert report["errors"] == [{"line": 2, "errors": {"owner_id": ["not a user you may hand records to"]}}]
    assert contacts.rows(Contact) == []


@pytest.mark.parametrize("scope", [BERLIN_AGENT, SALES_MANAGER])
def test_only_an_admin_moves_a_contact_out_of_every_department(contacts, contact_data, scope):
    contact = contacts.as_(scope).create_contact(contact_data(department_id="berlin"))

    with pytest.raises(ValidationFailed) as refused:
        contacts.as_(scope).update_contact(contact["id"], {"department_id": None})
    with pytest.raises(ValidationFailed) as created:
        contacts.as_(scope).create_contact(contact_data(department_id=None))
    moved = contacts.as_(ADMIN).update_contact(contact["id"], {"department_id": None})

    assert refused.value.errors == {"department_id": ["only an admin may leave a record without a department"]}
    assert "department_id" in created.value.errors
    assert moved["department_id"] is None
    assert [(row.id, row.department_id) for row in contacts.rows(Contact)] == [(contact["id"], None)]


def test_an_export_names_no_company_the_caller_may_not_see(contacts, contact_data):
    hidden = contacts.as_(SUPPORT_AGENT).create_company({"name": "Hidden Ltd", "department_id": "support"})
    own = contacts.as_(BERLIN_AGENT).create_company({"name": "Own GmbH", "department_id": "berlin"})
    for company in (hidden, own):
        contacts.create_contact(contact_data(department_id="berlin", company_id=company["id"]))

    def exported(scope) -> dict:
        with Session(contacts.engine) as session:
            params = export.checked_query(session, {"sort": "created_at"})
        body = b"".join(export.export_rows(contacts.engine, params, [], scope)).decode()
        return {row["company_id"]: row["company"] for row in csv.DictReader(io.StringIO(body))}

    assert exported(BERLIN_AGENT) == {hidden["id"]: "", own["id"]: "Own GmbH"}
    assert exported(ADMIN) == {hidden["id"]: "Hidden Ltd", own["id"]: "Own GmbH"}
