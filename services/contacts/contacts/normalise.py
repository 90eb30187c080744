"""Normal forms: what makes two spellings of a name, e-mail or phone the same for search and matching."""

import os
import unicodedata

import phonenumbers

PHONE_CHARS = frozenset("+0123456789 -./()")


def search_key(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, case folded.

    `Zoë Ñúñez` and `zoe nunez` have the same key, so one normalised column serves every query.
    """
    if not text.isascii():  # ASCII has no compatibility forms and no combining marks
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())


def default_region() -> str | None:
    """`CONTACTS_DEFAULT_REGION` (ISO 3166 alpha-2, such as `DE`): how numbers without `+` are read."""
    return (os.environ.get("CONTACTS_DEFAULT_REGION") or "").upper() or None


def to_e164(number: str, region: str | None = None) -> str:
    """`number` in E.164 (`+4930123456`); ValueError when it cannot be a real number.

    A number with `+` needs no region; a national one (`030 123456`) is read in `region`, by default
    `CONTACTS_DEFAULT_REGION`.
    """
    try:
        parsed = phonenumbers.parse(number, region or default_region())
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number; give it with its country code, such as +4930123456") from None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number; give it with its country code, such as +4930123456")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(query: str) -> bool:
    return any(ch.isdigit() for ch in query) and set(query) <= PHONE_CHARS


def query_terms(query: str) -> list[str]:
    """The normalised terms of a search query; a phone-like query is one term of its digits."""
    if looks_like_phone(query):
        # A national trunk prefix (0 in 030 ...) is not part of the E.164 digits.
        return ["".join(ch for ch in query if ch.isdigit()).lstrip("0") or "0"]
    return search_key(query).split()


def search_text(first_name: str, last_name: str, emails, phones, company_name: str | None) -> str:
    """The one column `q` matches: names, e-mails, phones and the company name.

    A phone is written once, in E.164: a phone-like query is its digits, which are a substring of it.
    (Rows written before may also hold the digits without `+`; they match the same queries.)
    """
    parts = [first_name, last_name, *emails, *phones, company_name or ""]
    return search_key(" ".join(p for p in parts if p))
