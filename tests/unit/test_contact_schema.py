"""The contact wire format: what a client may send, and how it is normalised."""

import pytest

from contacts.schemas import ContactSchema
from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load


def load_contact(data, **kwargs):
    return load(ContactSchema(), data, **kwargs)


def test_an_unknown_field_is_refused_naming_the_field(contact_data):
    with pytest.raises(ValidationFailed) as refused:
        load_contact(contact_data(nickname="Ada"))

    assert "nickname" in refused.value.errors
    assert "nickname" in refused.value.detail


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        load_contact(["Ada"])

    assert "_schema" in refused.value.errors


def test_first_name_is_required(contact_data):
    data = contact_data()
    del data["first_name"]

    with pytest.raises(ValidationFailed) as refused:
        load_contact(data)

    assert list(refused.value.errors) == ["first_name"]


def test_contact_emails_are_lower_cased_and_deduplicated(contact_data):
    loaded = load_contact(contact_data(emails=["Ada@Example.com", "ada@example.COM", "grace@navy.mil"]))

    assert loaded["emails"] == ["ada@example.com", "grace@navy.mil"]


def test_an_invalid_email_is_refused_naming_emails(contact_data):
    with pytest.raises(ValidationFailed) as refused:
        load_contact(contact_data(emails=["ada@example.com", "not-an-address"]))

    assert list(refused.value.errors) == ["emails"]


@pytest.mark.parametrize("phone", ["030 123456", "4930123456", "+0301234567", "+49 30 12", "+49", "call me"])
def test_a_phone_that_is_no_real_number_is_refused_naming_phones(contact_data, phone):
    with pytest.raises(ValidationFailed) as refused:
        load_contact(contact_data(phones=["+4930123456", phone]))

    assert list(refused.value.errors) == ["phones"]


def test_e164_phones_are_kept_in_order_without_duplicates(contact_data):
    loaded = load_contact(contact_data(phones=["+4930123456", "+14155550100", "+4930123456"]))

    assert loaded["phones"] == ["+4930123456", "+14155550100"]


def test_tags_are_deduplicated_and_sorted(contact_data):
    loaded = load_contact(contact_data(tags=["vip", "b2b", "vip", "newsletter"]))

    assert loaded["tags"] == ["b2b", "newsletter", "vip"]


def test_an_unknown_iana_time_zone_is_refused(contact_data):
    with pytest.raises(ValidationFailed) as refused:
        load_contact(contact_data(timezone="Mars/Olympus_Mons"))

    assert list(refused.value.errors) == ["timezone"]


def test_a_known_iana_time_zone_is_kept(contact_data):
    assert load_contact(contact_data(timezone="America/Sao_Paulo"))["timezone"] == "America/Sao_Paulo"


def test_a_partial_load_returns_only_the_fields_sent():
    loaded = load_contact({"last_name": "Byron"}, partial=True)

    assert loaded == {"last_name": "Byron"}


def test_a_partial_load_still_normalises_what_was_sent():
    loaded = load_contact({"tags": ["b", "a", "b"]}, partial=True)

    assert loaded == {"tags": ["a", "b"]}


def test_a_zone_database_folder_is_not_a_time_zone(contact_data):
    with pytest.raises(ValidationFailed) as error:
        load(ContactSchema(), contact_data(timezone="Europe"))
    assert "timezone" in error.value.errors


def test_a_blank_tag_is_refused(contact_data):
    with pytest.raises(ValidationFailed) as error:
        load(ContactSchema(), contact_data(tags=["vip", "   "]))
    assert "tags" in error.value.errors


@pytest.mark.parametrize(
    ("field", "value"), [("tags", ["ok", "bad\x00tag"]), ("attributes", {"size": 1, "bad\x00key": 2})]
)
def test_a_nul_character_anywhere_is_refused_naming_the_field(contact_data, field, value):
    with pytest.raises(ValidationFailed) as error:
        load(ContactSchema(), contact_data(**{field: value}))
    assert field in error.value.errors
    assert "NUL" in str(error.value.errors[field])


def test_an_id_longer_than_any_id_is_refused_naming_the_field(contact_data):
    with pytest.raises(ValidationFailed) as error:
        load(ContactSchema(), contact_data(company_id="0" * 33))
    assert "company_id" in error.value.errors
