"""Which contacts a list, search or export returns, and how a page of them is read: one function for
both engines."""

from sqlalchemy import JSON, column, func, literal_column, select, table

from contacts.models import SQLITE_SEARCH_INDEX, Contact, ContactTag
from contacts.normalise import query_terms
from contacts.schemas import CONTACT_SORTS, ContactSchema
from crm_kernel.pagination import after_cursor, keyset_order, page_and_cursor, sort_key
from crm_kernel.schemas import dump_rows
from crm_kernel.scope import Scope, visible

RANGES = {
    "created_from": (Contact.created_at, ">="),
    "created_to": (Contact.created_at, "<"),
    "updated_from": (Contact.updated_at, ">="),
    "updated_to": (Contact.updated_at, "<"),
}
FTS = table(SQLITE_SEARCH_INDEX, column("rowid"), column("search_text"))
TRIGRAM = 3  # the shortest term an FTS5 trigram index can answer; shorter ones match nothing there
PHONE_TAIL = 6  # digits of a phone-like term that PostgreSQL's index is asked for


def index_part(term: str) -> str:
    """The part of `term` that PostgreSQL's trigram index is asked for; the whole term is checked on what it finds.

    Numbers start with country and area codes and addresses end with a domain that most rows share:
    their trigrams' posting lists are as long as the table, and the index reads them whole (`.123@example`
    read 2,700 pages of a million contacts). The last digits, or the part before `@`, are rarer.
    """
    if term.isdigit() and len(term) > PHONE_TAIL:
        return term[-PHONE_TAIL:]
    local, at, _ = term.partition("@")
    if at and sum(ch.isalnum() for ch in local) >= TRIGRAM:
        return local
    return term


def contacts_matching(session, params: dict):
    """A SELECT of the live contacts that match `params` (a loaded ContactQuerySchema).

    `q` is split into terms, each matched as a substring of the normalised `search_text`. On
    PostgreSQL a pg_trgm GIN index answers `LIKE '%term%'` (or a rarer part of the term, see
    `index_part`). On SQLite an FTS5 trigram index finds the candidates (a quoted phrase matches any
    substring of three characters or more) and the same LIKE then decides, so both engines return the
    same rows. An unknown tag matches nothing, like a tag only contacts out of sight carry.
    """
    stmt = select(Contact).where(Contact.deleted_at.is_(None))
    sqlite = session.get_bind().dialect.name == "sqlite"
    for term in query_terms(params["q"]) if params.get("q") else []:
        if sqlite:
            if len(term) >= TRIGRAM:
                phrase = '"' + term.replace('"', '""') + '"'
                candidates = select(FTS.c.rowid).where(FTS.c.search_text.match(phrase))
                stmt = stmt.where(literal_column("contacts.rowid").in_(candidates))
            stmt = stmt.where(Contact.search_text.contains(term, autoescape=True))
            continue
        part = index_part(term)
        stmt = stmt.where(Contact.search_text.contains(part, autoescape=True))
        if part != term:  # strpos is no operator of the trigram index: it is checked on the rows found
            stmt = stmt.where(func.strpos(Contact.search_text, term) > 0)
    if params.get("tag"):
        # An unknown tag is an empty page: a 422 would tell whether a contact out of sight carries it.
        stmt = stmt.where(Contact.tag_rows.any(ContactTag.tag == params["tag"]))
    for name in ("company_id", "owner_id", "department_id", "marketing_consent"):
        if params.get(name) is not None:
            stmt = stmt.where(getattr(Contact, name) == params[name])
    for name, (column_, op) in RANGES.items():
        if params.get(name) is not None:
            stmt = stmt.where(column_ >= params[name] if op == ">=" else column_ < params[name])
    return stmt


# What a page reads of each contact: the columns of the wire format (`ContactSchema`), nothing more
# (not `search_text`, the longest column, which no reader is shown); `tags` comes from its own table.
PAGE_COLUMNS = tuple(Contact.__table__.c[name] for name in ContactSchema().dump_fields if name in Contact.__table__.c)


def _tags_of_each_contact(dialect: str):
    """The tags of the contact of each row of the statement it is put in (correlated to `contacts`), as
    one value sorted as `Contact.tag_rows` sorts them: a PostgreSQL array, or SQLite's JSON array
    (3.40 has no ORDER BY inside an aggregate: it aggregates in its subquery's order, which it keeps)."""
    mine = select(ContactTag.tag).where(ContactTag.contact_id == Contact.id).correlate(Contact)
    if dialect == "sqlite":
        ordered = mine.order_by(ContactTag.tag).subquery()
        tags = select(func.json_group_array(ordered.c.tag, type_=JSON))
    else:
        tags = mine.with_only_columns(func.array_agg(ContactTag.tag).aggregate_order_by(ContactTag.tag))
    return tags.scalar_subquery().label("tags")


# Made once: a statement's parts are immutable, and building them was a tenth of a page's time.
TAGS_OF_EACH_CONTACT = {dialect: _tags_of_each_contact(dialect) for dialect in ("postgresql", "sqlite")}


def contact_page(session, scope: Scope | None, params: dict, *, limit: int, cursor: str | None, sort: str):
    """One page of the contacts matching `params` that `scope` may see, as `ContactSchema().dump` gives
    each, and the next page's cursor: one statement, rows read without the ORM.

    The page is chosen first, in a subquery of ids and sort values (scope, filters, cursor: an index
    alone answers it for a plain list); its rows are then read with their tags, so tags are aggregated
    for the page's rows only, whatever plan finds them.
    """
    name, descending = sort_key(sort, CONTACT_SORTS)
    stmt = visible(contacts_matching(session, params), Contact, scope)
    stmt = after_cursor(stmt.with_only_columns(Contact.id, getattr(Contact, name)), Contact, name, descending, cursor)
    order = keyset_order(Contact, name, descending)
    page = stmt.order_by(*order).limit(limit + 1).subquery("page")
    tags = TAGS_OF_EACH_CONTACT[session.get_bind().dialect.name]
    read = select(*PAGE_COLUMNS, tags).join_from(page, Contact, Contact.id == page.c.id).order_by(*order)
    rows, next_cursor = page_and_cursor(session.execute(read).all(), limit, name)
    return _dumped(rows), next_cursor


def contact_by_id(session, scope: Scope | None, contact_id: str) -> dict | None:
    """The live contact `contact_id` as `ContactSchema().dump` gives it, if `scope` may see it, else
    None: one statement, read as a page's rows are (no ORM object, tags aggregated in it)."""
    tags = TAGS_OF_EACH_CONTACT[session.get_bind().dialect.name]
    one = select(*PAGE_COLUMNS, tags).where(Contact.id == contact_id, Contact.deleted_at.is_(None))
    row = session.execute(visible(one, Contact, scope)).first()
    return None if row is None else _dumped([row])[0]


def _dumped(rows) -> list[dict]:
    """Rows of `PAGE_COLUMNS` and `tags` as `ContactSchema().dump` gives each (no tags: an empty list)."""
    return dump_rows(ContactSchema, [{**row._mapping, "tags": row.tags or []} for row in rows])
