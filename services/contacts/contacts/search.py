"""Which contacts a list, search or export returns: one function for both engines."""

from sqlalchemy import exists, select

from contacts.models import Contact, ContactTag
from contacts.normalise import query_terms
from crm_kernel.errors import ValidationFailed

RANGES = {
    "created_from": (Contact.created_at, ">="),
    "created_to": (Contact.created_at, "<"),
    "updated_from": (Contact.updated_at, ">="),
    "updated_to": (Contact.updated_at, "<"),
}


def contacts_matching(session, params: dict):
    """A SELECT of the live contacts that match `params` (a loaded ContactQuerySchema).

    `q` is split into terms, each matched as a substring of the normalised `search_text`: on
    PostgreSQL a pg_trgm GIN index answers `LIKE '%term%'`; on SQLite (the laptop default) it is a
    scan of one column. An unknown tag is bad input, not an empty page.
    """
    stmt = select(Contact).where(Contact.deleted_at.is_(None))
    for term in query_terms(params["q"]) if params.get("q") else []:
        stmt = stmt.where(Contact.search_text.contains(term, autoescape=True))
    if params.get("tag"):
        if session.scalar(select(exists().where(ContactTag.tag == params["tag"]))) is False:
            raise ValidationFailed(f"no contact has the tag {params['tag']!r}", {"tag": ["unknown tag"]})
        stmt = stmt.where(Contact.tag_rows.any(ContactTag.tag == params["tag"]))
    for name in ("company_id", "owner_id", "department_id", "marketing_consent"):
        if params.get(name) is not None:
            stmt = stmt.where(getattr(Contact, name) == params[name])
    for name, (column, op) in RANGES.items():
        if params.get(name) is not None:
            stmt = stmt.where(column >= params[name] if op == ">=" else column < params[name])
    return stmt
