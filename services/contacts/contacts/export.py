"""The CSV export: the contacts a list would return, as CSV in keyset pages, one session per page."""

import csv
import io

from sqlalchemy.orm import Session

from contacts import companies
from contacts.rows import formula_safe
from contacts.schemas import CONTACT_SORTS, ContactQuerySchema
from contacts.search import contact_page, contacts_matching
from crm_kernel.errors import ValidationFailed
from crm_kernel.schemas import load
from crm_kernel.scope import Scope

EXPORT_PAGE = 1000
EXPORT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "emails",
    "phones",
    "company_id",
    "company",
    "owner_id",
    "department_id",
    "tags",
    "timezone",
    "marketing_consent",
    "created_at",
    "updated_at",
)


def checked_query(db, query: dict) -> dict:
    """The export's filters, refused (422) now, before the first byte is sent."""
    params = load(ContactQuerySchema(), query)
    params["limit"] = EXPORT_PAGE
    contacts_matching(db, params)
    if params["sort"].removeprefix("-") not in CONTACT_SORTS:
        raise ValidationFailed("unknown sort", {"sort": [f"one of {', '.join(CONTACT_SORTS)}"]})
    return params


def export_rows(engine, params: dict, attribute_keys: list[str], scope: Scope | None = None):
    """CSV bytes of every contact matching `params` that `scope` may see, header first, in keyset pages.
    A company the caller may not see has no name in the export (its id is the contact's own field)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*EXPORT_COLUMNS, *(f"attr.{k}" for k in attribute_keys)])
    cursor = None
    while True:
        # A session per page: on SQLite the process has one connection, and a slow reader must not hold it.
        with Session(engine) as session:
            items, cursor = contact_page(session, scope, params, limit=EXPORT_PAGE, cursor=cursor, sort=params["sort"])
            names = companies.names_seen_by(session, scope, {c["company_id"] for c in items if c["company_id"]})
            for item in items:
                writer.writerow(export_row(item, names, attribute_keys))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if cursor is None:
            return


def export_row(contact: dict, company_names: dict, attribute_keys: list[str]) -> list:
    cells = {
        **contact,
        "emails": "|".join(contact["emails"]),
        "phones": "|".join(contact["phones"]),
        "tags": "|".join(contact["tags"]),
        "company": company_names.get(contact["company_id"], ""),
        "marketing_consent": "true" if contact["marketing_consent"] else "false",
    }
    values = [cells.get(name) or "" for name in EXPORT_COLUMNS]
    values += [_cell(contact["attributes"].get(k)) for k in attribute_keys]
    return [formula_safe(str(value)) for value in values]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
