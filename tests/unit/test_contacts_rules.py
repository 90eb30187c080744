"""Plain rules of the contacts service: normal forms, custom fields, duplicates and merge survivorship."""

import pytest

from contacts.custom_fields import from_text, validate_attributes
from contacts.duplicates import merge_contacts, rank_duplicates
from contacts.normalise import query_terms, search_key, search_text, to_e164
from crm_kernel.errors import ValidationFailed

DEFINITIONS = {
    "size": {"type": "number", "required": False, "choices": []},
    "since": {"type": "date", "required": False, "choices": []},
    "tier": {"type": "choice", "required": True, "choices": ["gold", "silver"]},
    "vip": {"type": "bool", "required": False, "choices": []},
    "note": {"type": "text", "required": False, "choices": []},
}


def person(id_, **fields):
    base = {
        "id": id_,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": [],
        "phones": [],
        "company_id": None,
        "owner_id": None,
        "department_id": None,
        "tags": [],
        "attributes": {},
        "timezone": None,
        "marketing_consent": False,
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
    return base | fields


def test_search_key_ignores_case_and_accents():
    assert search_key("Zoë ÑÚÑEZ") == search_key("zoe nunez") == "zoe nunez"
    assert search_key("Straße") == "strasse"


def test_search_text_holds_names_emails_phones_and_the_company():
    text = search_text("Zoë", "Núñez", ["zoe@example.com"], ["+442071234567"], "Ácme Ltd")
    assert text == "zoe nunez zoe@example.com +442071234567 acme ltd"


def test_every_phone_like_query_for_a_number_is_a_substring_of_its_search_text():
    text = search_text("Zoë", "", [], ["+442071234567"], None)
    for query in ("+44 20 7123 4567", "020 7123 4567", "44207123", "7123-4567", "(020) 71234567"):
        assert all(term in text for term in query_terms(query)), query


def test_a_phone_like_query_is_one_term_of_its_digits_without_the_trunk_zero():
    assert query_terms("020 7123-4567") == ["2071234567"]
    assert query_terms("Zoë  NÚÑ") == ["zoe", "nun"]


def test_phones_in_any_parseable_form_become_e164():
    assert to_e164("+44 (20) 7123 4567") == "+442071234567"
    assert to_e164("030 1234567", "DE") == "+49301234567"
    with pytest.raises(ValueError):
        to_e164("030 1234567")  # national, and no default region


def test_national_numbers_use_the_default_region_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONTACTS_DEFAULT_REGION", "de")
    assert to_e164("030 1234567") == "+49301234567"


def test_custom_fields_of_the_right_type_are_kept():
    attributes = {"size": 12.5, "since": "2024-02-29", "tier": "gold", "vip": True, "note": "x", "nothing": None}
    with pytest.raises(ValidationFailed):
        validate_attributes(DEFINITIONS, attributes, enforce_required=True)  # `nothing` is not defined
    del attributes["nothing"]
    assert validate_attributes(DEFINITIONS, attributes, enforce_required=True) == attributes


@pytest.mark.parametrize(
    ("key", "value"),
    [("size", "12"), ("size", True), ("since", "2024-02-30"), ("tier", "bronze"), ("vip", "yes"), ("note", 3)],
)
def test_a_custom_field_of_the_wrong_type_is_refused_naming_attributes_key(key, value):
    with pytest.raises(ValidationFailed) as refused:
        validate_attributes(DEFINITIONS, {"tier": "gold", key: value}, enforce_required=True)
    assert list(refused.value.errors) == [f"attributes.{key}"]


def test_an_unknown_custom_field_and_a_missing_required_one_are_both_named():
    with pytest.raises(ValidationFailed) as refused:
        validate_attributes(DEFINITIONS, {"colour": "red"}, enforce_required=True)
    assert set(refused.value.errors) == {"attributes.colour", "attributes.tier"}


def test_csv_cells_become_the_type_their_field_expects():
    assert from_text(DEFINITIONS["size"], "42") == 42
    assert from_text(DEFINITIONS["size"], "4,5") == 4.5
    assert from_text(DEFINITIONS["vip"], "Yes") is True
    assert from_text(DEFINITIONS["size"], "many") == "many"  # left for the check to name


def test_a_shared_email_or_phone_is_a_certain_duplicate_with_its_reason():
    contact = person("new", emails=["ada@example.com"], phones=["+442071234567"])
    candidates = [
        person("a", first_name="Augusta", emails=["ada@example.com"]),
        person("b", first_name="Someone", phones=["+442071234567"]),
        person("c", first_name="Grace", emails=["grace@example.com"]),
    ]

    found = rank_duplicates(contact, candidates)

    assert [(d["id"], d["score"], d["reasons"]) for d in found] == [
        ("a", 100, ["same e-mail ada@example.com"]),
        ("b", 100, ["same phone +442071234567"]),
    ]


def test_a_close_name_is_a_duplicate_only_at_the_same_company():
    contact = person("new", first_name="Zoë", last_name="Núñez", company_id="co1")
    same_company = person("a", first_name="Zoe", last_name="Nunez", company_id="co1")
    other_company = person("b", first_name="Zoe", last_name="Nunez", company_id="co2")
    different_name = person("c", first_name="Grace", last_name="Hopper", company_id="co1")

    found = rank_duplicates(contact, [same_company, other_company, different_name])

    assert [d["id"] for d in found] == ["a"]
    assert found[0]["reasons"][0].startswith("similar name at the same company")


def test_merge_keeps_the_targets_values_and_every_other_value_somewhere():
    target = person(
        "t", first_name="Ada", last_name="", emails=["ada@a.com"], tags=["vip"], attributes={"tier": "gold"}
    )
    source = person(
        "s",
        first_name="Augusta",
        last_name="Lovelace",
        emails=["ada@b.com", "ada@a.com"],
        phones=["+442071234567"],
        tags=["b2b"],
        attributes={"tier": "silver", "size": 3},
        timezone="Europe/London",
    )

    merged, record = merge_contacts(target, [source])

    assert merged["first_name"] == "Ada"  # the target's value wins
    assert merged["last_name"] == "Lovelace"  # an empty one is filled
    assert merged["timezone"] == "Europe/London"
    assert merged["emails"] == ["ada@a.com", "ada@b.com"]  # target's primary stays first
    assert merged["phones"] == ["+442071234567"]
    assert merged["tags"] == ["b2b", "vip"]
    assert merged["attributes"] == {"tier": "gold", "size": 3}
    assert record["conflicts"] == {"first_name": ["Augusta"], "attributes.tier": ["silver"]}
    assert record["source_ids"] == ["s"]


def test_merge_takes_marketing_consent_from_the_most_recently_updated_record():
    target = person("t", marketing_consent=True, updated_at="2026-01-01T00:00:00+00:00")
    source = person("s", marketing_consent=False, updated_at="2026-06-01T00:00:00+00:00")

    merged, record = merge_contacts(target, [source])

    assert merged["marketing_consent"] is False
    assert record["conflicts"]["marketing_consent"] == [True, False]
