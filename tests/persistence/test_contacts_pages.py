"""The contacts list read without the ORM (`search.contact_page`) gives, on each engine, exactly what
the ORM's objects dumped by `ContactSchema` gave: every field, tags in order, custom attributes, every
sort, every page of a cursor walk, and only what the caller's scope may see."""

from datetime import UTC, datetime, timedelta

import pytest
from service_workers import Workers
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from contacts.models import Contact, OutboxEvent
from contacts.schemas import CONTACT_SORTS, ContactSchema
from contacts.search import contact_by_id, contact_page, contacts_matching
from contacts.service import ContactsService
from crm_kernel.migrations import upgrade
from crm_kernel.pagination import keyset_page
from crm_kernel.scope import Scope, visible

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SORTS = [sign + name for name in CONTACT_SORTS for sign in ("", "-")]
ADMIN = Scope("admin-1", "admin", "d-root", ("d-root",))
MANAGER = Scope("manager-1", "manager", "d-sales", ("d-sales", "d-sales-east"))
AGENT = Scope("agent-1", "agent", None)  # no department: their own contacts only
AGENT_IN_SUPPORT = Scope("agent-2", "agent", "d-support", ("d-support",))


@pytest.fixture
def engine(database_url):
    upgrade("contacts", database_url)
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def contacts(engine):
    """Twelve contacts whose sort values tie in pairs (the id must break the ties), with tags out of
    order, attributes of every JSON type, a deleted one and a merged one, spread over owners and
    departments."""
    owners = ["agent-1", "agent-2", "manager-1", None]
    departments = ["d-sales", "d-sales-east", "d-support", None]
    with Session(engine) as session:
        for n in range(12):
            contact = Contact(
                id=f"c{n:02d}",
                first_name=["Ada", "Zoë", "ada"][n % 3],
                last_name=["Lovelace", "Núñez", "O'Brien", "Lovelace"][n % 4],
                emails=[f"p{n}@example.com", f"q{n}@example.org"][: 1 + n % 2],
                phones=["+4930123456"] if n % 3 == 0 else [],
                company_id=f"co{n % 2}" if n % 5 else None,
                owner_id=owners[n % 4],
                department_id=departments[(n // 2) % 4],
                attributes={"tier": "gold", "score": n * 1.5, "vip": n % 2 == 0, "since": "2024-01-01", "n": None}
                if n % 2
                else {},
                timezone="Europe/Berlin" if n % 2 else None,
                marketing_consent=n % 3 == 1,
                created_at=T0 + timedelta(minutes=n // 2),  # pairs share a time
                updated_at=T0 + timedelta(hours=1, minutes=(12 - n) // 3),
                merged_into="c00" if n == 11 else None,
                deleted_at=T0 if n == 10 else None,
            )
            contact.tags = [["vip", "Berlin", "lead"], [], ["b2b"], ["zeta", "alpha", "Ärger", "beta"]][n % 4]
            contact.refresh_search_text("Perla Foods" if n % 2 else None)
            session.add(contact)
        session.commit()


def old_page(session, scope, params, cursor, sort, limit):
    """The list as it was read before: ORM objects (tags loaded by selectin), dumped by the schema."""
    rows, next_cursor = keyset_page(
        session,
        visible(contacts_matching(session, params), Contact, scope),
        Contact,
        limit=limit,
        cursor=cursor,
        sort=sort,
        sortable=CONTACT_SORTS,
    )
    return ContactSchema(many=True).dump(rows), next_cursor


def walk(engine, read, scope, params, sort, limit=5):
    """Every page in turn, each read in a session of its own; the pages and the cursors between them."""
    pages, cursor = [], None
    for _ in range(20):  # a cursor that never ends would otherwise hang the test
        with Session(engine) as session:
            items, cursor = read(session, scope, params, cursor, sort, limit)
        pages.append((items, cursor))
        if cursor is None:
            return pages
    pytest.fail("pagination did not end")


def new_page(session, scope, params, cursor, sort, limit):
    return contact_page(session, scope, params, limit=limit, cursor=cursor, sort=sort)


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("scope", [ADMIN, MANAGER, AGENT, AGENT_IN_SUPPORT], ids=lambda s: s.user_id)
def test_every_page_of_every_sort_is_what_the_orm_dump_gave(engine, contacts, scope, sort):
    old = walk(engine, old_page, scope, {}, sort)
    new = walk(engine, new_page, scope, {}, sort)

    assert new == old
    items = [item for page, _ in new for item in page]
    assert len(items) == len({item["id"] for item in items}) > 0
    assert all(scope.sees(item) for item in items)
    assert "c10" not in {item["id"] for item in items}  # deleted


def test_a_page_has_every_field_of_the_wire_format_in_its_order_and_tags_sorted(engine, contacts):
    with Session(engine) as session:
        items, _ = contact_page(session, ADMIN, {}, limit=20, cursor=None, sort="created_at")

    assert [list(item) for item in items] == [list(ContactSchema().fields)] * 11
    by_id = {item["id"]: item for item in items}
    assert sorted(by_id["c03"]["tags"]) == sorted(["zeta", "alpha", "Ärger", "beta"])  # in the database's collation
    assert by_id["c00"]["tags"] == ["Berlin", "lead", "vip"]
    assert by_id["c01"]["tags"] == []
    assert by_id["c01"]["attributes"] == {
        "tier": "gold",
        "score": 1.5,
        "vip": False,
        "since": "2024-01-01",
        "n": None,
    }
    assert by_id["c11"]["merged_into"] == "c00"
    assert by_id["c00"]["created_at"] == "2026-03-01T09:00:00+00:00"
    assert (by_id["c03"]["version"], by_id["c03"]["timezone"], by_id["c01"]["marketing_consent"]) == (
        1,
        "Europe/Berlin",
        True,
    )


def test_an_agent_sees_only_their_own_contacts_and_their_departments(engine, contacts):
    with Session(engine) as session:
        alone, _ = contact_page(session, AGENT, {}, limit=50, cursor=None, sort="-created_at")
        in_support, _ = contact_page(session, AGENT_IN_SUPPORT, {}, limit=50, cursor=None, sort="-created_at")
        nobody, _ = contact_page(session, None, {}, limit=50, cursor=None, sort="-created_at")

    assert {item["owner_id"] for item in alone} == {"agent-1"}
    assert {item["id"] for item in alone} == {"c00", "c04", "c08"}
    assert all(item["owner_id"] == "agent-2" or item["department_id"] == "d-support" for item in in_support)
    assert {"c01", "c04", "c05", "c09"} <= {item["id"] for item in in_support}
    assert nobody == []


@pytest.mark.parametrize(
    "params",
    [{"q": "perla"}, {"q": "lovel ada"}, {"tag": "vip"}, {"tag": "unknown"}, {"company_id": "co1", "q": "example"}],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
@pytest.mark.parametrize("scope", [ADMIN, MANAGER, AGENT_IN_SUPPORT], ids=lambda s: s.user_id)
def test_a_search_pages_as_the_orm_dump_did(engine, contacts, scope, params):
    for sort in ("-created_at", "last_name"):
        old = walk(engine, old_page, scope, params, sort, limit=2)
        new = walk(engine, new_page, scope, params, sort, limit=2)

        assert new == old, sort


def test_the_service_lists_through_the_new_page(engine, contacts):
    """`list_contacts` (outside a transaction on PostgreSQL) answers as a walk of `contact_page` does."""
    service = Workers(ContactsService, engine, OutboxEvent, scope=MANAGER)
    first = service.list_contacts({"limit": "3", "sort": "-updated_at"})
    second = service.list_contacts({"limit": "3", "sort": "-updated_at", "cursor": first["next_cursor"]})

    expected = walk(engine, new_page, MANAGER, {}, "-updated_at", limit=3)
    assert [first["items"], second["items"]] == [expected[0][0], expected[1][0]]
    assert first["next_cursor"] == expected[0][1]


@pytest.mark.parametrize("scope", [ADMIN, MANAGER, AGENT, AGENT_IN_SUPPORT, None], ids=lambda s: s and s.role)
def test_one_contact_read_without_the_orm_is_what_the_orm_dumped_and_only_within_scope(engine, contacts, scope):
    """`GET /contacts/{id}`'s read (`search.contact_by_id`) against the ORM object dumped by the schema,
    for every contact: the same dict, or None exactly where the old read found nothing (deleted, out of
    sight, no scope)."""
    with Session(engine) as session:
        seen = 0
        for n in range(12):
            stmt = visible(
                select(Contact).where(Contact.id == f"c{n:02d}", Contact.deleted_at.is_(None)), Contact, scope
            )
            old = session.scalar(stmt)
            new = contact_by_id(session, scope, f"c{n:02d}")
            assert new == (None if old is None else ContactSchema().dump(old)), f"c{n:02d}"
            if new is not None:
                assert list(new) == list(ContactSchema().dump(old))  # the keys in the wire order too
                seen += 1
            session.expunge_all()
        assert contact_by_id(session, scope, "no-such-contact") is None
    if scope is None:
        assert seen == 0  # no scope sees nothing
    elif scope.role == "admin":
        assert seen == 11  # every live contact
    else:
        assert 0 < seen < 11
