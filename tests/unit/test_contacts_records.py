"""Companies, custom fields, restore, history, search, duplicates and merges: the service's methods in
Nameko workers over in-memory SQLite with a real outbox."""

import pytest

from contacts.models import Base, OutboxEvent
from contacts.service import ContactsService
from crm_kernel.errors import Conflict, NotFound, ValidationFailed


@pytest.fixture
def contacts(workers):
    return workers(ContactsService, Base, OutboxEvent)


def events(contacts) -> list[dict]:
    return [row.payload for row in contacts.rows(OutboxEvent, OutboxEvent.id)]


def test_a_company_is_created_renamed_and_its_contacts_are_found_by_the_new_name(contacts):
    company = contacts.create_company({"name": "Acme", "domain": "ACME.example"})
    ada = contacts.create_contact({"first_name": "Ada", "company_id": company["id"]})

    contacts.update_company(company["id"], {"name": "Bêta Industries"}, expected_version=1)

    found = contacts.list_contacts({"q": "beta indus"})["items"]
    assert [c["id"] for c in found] == [ada["id"]]
    assert found[0]["version"] == 1  # re-indexing is not a change of the contact
    assert company["domain"] == "acme.example"
    assert [e["type"] for e in events(contacts)] == ["company.created", "contact.created", "company.updated"]
    assert events(contacts)[-1]["changes"] == {"name": ["Acme", "Bêta Industries"]}


def test_a_contact_at_an_unknown_company_is_refused_naming_company_id(contacts):
    with pytest.raises(ValidationFailed) as refused:
        contacts.create_contact({"first_name": "Ada", "company_id": "nope"})
    assert list(refused.value.errors) == ["company_id"]
    assert events(contacts) == []


def test_a_company_with_live_contacts_cannot_be_deleted(contacts):
    company = contacts.create_company({"name": "Acme"})
    contacts.create_contact({"first_name": "Ada", "company_id": company["id"]})

    with pytest.raises(Conflict):
        contacts.delete_company(company["id"])
    assert contacts.get_company(company["id"])["name"] == "Acme"


def test_a_deleted_company_is_restored_with_company_events(contacts):
    company = contacts.create_company({"name": "Acme"})
    contacts.delete_company(company["id"])
    with pytest.raises(NotFound):
        contacts.get_company(company["id"])

    restored = contacts.restore_company(company["id"])

    assert restored["name"] == "Acme"
    assert [e["type"] for e in events(contacts)] == ["company.created", "company.deleted", "company.restored"]


def test_attributes_are_checked_against_the_definitions_admins_manage(contacts):
    contacts.create_field_definition({"key": "tier", "label": "Tier", "type": "choice", "choices": ["gold", "silver"]})
    contacts.create_field_definition({"key": "size", "label": "Size", "type": "number", "required": True})

    with pytest.raises(ValidationFailed) as refused:
        contacts.create_contact({"first_name": "Ada", "attributes": {"tier": "bronze", "colour": "red"}})
    assert set(refused.value.errors) == {"attributes.tier", "attributes.colour", "attributes.size"}

    created = contacts.create_contact({"first_name": "Ada", "attributes": {"tier": "gold", "size": 3}})
    assert created["attributes"] == {"tier": "gold", "size": 3}


def test_a_field_definition_keeps_its_key_and_type_and_a_choice_field_needs_choices(contacts):
    with pytest.raises(ValidationFailed) as refused:
        contacts.create_field_definition({"key": "tier", "label": "Tier", "type": "choice"})
    assert list(refused.value.errors) == ["choices"]
    contacts.create_field_definition({"key": "size", "label": "Size", "type": "number"})
    with pytest.raises(Conflict):
        contacts.create_field_definition({"key": "size", "label": "Again", "type": "text"})
    with pytest.raises(ValidationFailed) as refused:
        contacts.update_field_definition("size", {"type": "text"})
    assert list(refused.value.errors) == ["type"]

    with pytest.raises(ValidationFailed) as refused:
        contacts.update_field_definition("size", {"choices": ["small"]})
    assert list(refused.value.errors) == ["choices"]

    changed = contacts.update_field_definition("size", {"label": "Head count", "required": True})

    assert (changed["label"], changed["required"], changed["type"]) == ("Head count", True, "number")


def test_a_deleted_contact_is_restored_and_its_history_lists_every_change_newest_first(contacts):
    ada = contacts.create_contact({"first_name": "Ada"})
    contacts.update_contact(ada["id"], {"last_name": "King"})
    contacts.delete_contact(ada["id"])

    restored = contacts.restore_contact(ada["id"])
    history = contacts.contact_history(ada["id"])["items"]

    assert restored["last_name"] == "King"
    assert [h["type"] for h in history] == ["contact.restored", "contact.deleted", "contact.updated", "contact.created"]
    assert history[2]["changes"] == {"last_name": ["", "King"]}
    assert {h["actor"] for h in history} == {"u1"}
    assert all(h["occurred_at"] for h in history)


def test_search_matches_any_part_of_names_emails_phones_ignoring_case_and_accents(contacts):
    zoe = contacts.create_contact(
        {"first_name": "Zoë", "last_name": "Núñez", "emails": ["ZN@Example.com"], "phones": ["+442071234567"]}
    )
    contacts.create_contact({"first_name": "Grace", "last_name": "Hopper"})

    for query in ("zoe", "NUNE", "oë nú", "zn@exa", "020 7123 4567", "7123"):
        assert [c["id"] for c in contacts.list_contacts({"q": query})["items"]] == [zoe["id"]], query


def test_lists_filter_by_consent_and_time_range_and_an_unknown_tag_matches_nothing(contacts):
    ada = contacts.create_contact({"first_name": "Ada", "marketing_consent": True, "tags": ["vip"]})
    contacts.create_contact({"first_name": "Grace"})

    assert [c["id"] for c in contacts.list_contacts({"marketing_consent": "true"})["items"]] == [ada["id"]]
    assert contacts.list_contacts({"created_from": ada["created_at"]})["items"][-1]["id"] == ada["id"]
    assert contacts.list_contacts({"created_to": ada["created_at"]})["items"] == []
    assert [c["id"] for c in contacts.list_contacts({"tag": "vip"})["items"]] == [ada["id"]]
    assert contacts.list_contacts({"tag": "never-used"})["items"] == []


def test_a_create_reports_duplicates_and_reject_refuses_them(contacts):
    ada = contacts.create_contact({"first_name": "Ada", "emails": ["ada@example.com"]})

    second = contacts.create_contact({"first_name": "Augusta", "emails": ["ADA@example.com"]})
    with pytest.raises(Conflict) as refused:
        contacts.create_contact({"first_name": "A.", "emails": ["ada@example.com"]}, "reject")

    assert [(d["id"], d["score"]) for d in second["duplicates"]] == [(ada["id"], 100)]
    assert {reason.split(":")[0] for reason in refused.value.errors["duplicates"]} == {ada["id"], second["id"]}
    assert len(contacts.list_contacts({})["items"]) == 2
    assert [c["id"] for c in contacts.contact_duplicates(ada["id"])["items"]] == [second["id"]]


def test_a_merge_absorbs_the_sources_and_an_undo_puts_everything_back(contacts):
    target = contacts.create_contact({"first_name": "Ada", "emails": ["ada@a.com"], "tags": ["vip"]})
    source = contacts.create_contact({"first_name": "Augusta", "emails": ["ada@b.com"], "phones": ["+442071234567"]})

    merge = contacts.merge_contacts(target["id"], {"source_ids": [source["id"]]})

    assert merge["target"]["emails"] == ["ada@a.com", "ada@b.com"]
    assert merge["target"]["phones"] == ["+442071234567"]
    assert merge["conflicts"] == {"first_name": ["Augusta"]}
    with pytest.raises(NotFound):
        contacts.get_contact(source["id"])
    merged_event = events(contacts)[-1]
    assert (merged_event["type"], merged_event["source_ids"], merged_event["merge_id"]) == (
        "contact.merged",
        [source["id"]],
        merge["merge_id"],
    )
    with pytest.raises(Conflict):
        contacts.restore_contact(source["id"])  # undo the merge instead

    undone = contacts.undo_merge(merge["merge_id"])

    assert undone["target"]["emails"] == ["ada@a.com"]
    assert contacts.get_contact(source["id"])["first_name"] == "Augusta"
    assert events(contacts)[-1]["type"] == "contact.unmerged"
    with pytest.raises(Conflict):
        contacts.undo_merge(merge["merge_id"])


def test_a_merge_cannot_be_undone_once_the_target_changed_after_it(contacts):
    target = contacts.create_contact({"first_name": "Ada"})
    source = contacts.create_contact({"first_name": "Augusta"})
    merge = contacts.merge_contacts(target["id"], {"source_ids": [source["id"]]})
    contacts.update_contact(target["id"], {"last_name": "King"})

    with pytest.raises(Conflict):
        contacts.undo_merge(merge["merge_id"])


def test_merging_into_itself_or_from_an_unknown_contact_is_refused_naming_source_ids(contacts):
    target = contacts.create_contact({"first_name": "Ada"})
    for source_ids in ([target["id"]], ["nope"]):
        with pytest.raises(ValidationFailed) as refused:
            contacts.merge_contacts(target["id"], {"source_ids": source_ids})
        assert list(refused.value.errors) == ["source_ids"]
    assert [e["type"] for e in events(contacts)] == ["contact.created"]


def test_one_refusal_names_every_bad_field_of_the_wire_format_custom_fields_and_company(contacts):
    contacts.create_field_definition({"key": "size", "label": "Size", "type": "number"})

    with pytest.raises(ValidationFailed) as refused:
        contacts.create_contact(
            {"first_name": "Ada", "phones": ["12"], "attributes": {"size": "big"}, "company_id": "nope"}
        )

    assert set(refused.value.errors) == {"phones", "attributes.size", "company_id"}


@pytest.mark.parametrize("contact_id", ["\x00", "x" * 33, ""])
def test_an_id_no_contact_can_have_is_not_found(contacts, contact_id):
    with pytest.raises(NotFound):
        contacts.get_contact(contact_id)
    with pytest.raises(NotFound):
        contacts.get_company(contact_id)


def test_a_nul_character_anywhere_is_bad_input_naming_the_field(contacts):
    with pytest.raises(ValidationFailed) as refused:
        contacts.create_contact({"first_name": "Ada\x00", "tags": ["ok", "b\x00d"]})
    assert set(refused.value.errors) == {"first_name", "tags"}
    with pytest.raises(ValidationFailed) as refused:
        contacts.list_contacts({"q": "\x00", "company_id": "\x00"})
    assert set(refused.value.errors) == {"q", "company_id"}
