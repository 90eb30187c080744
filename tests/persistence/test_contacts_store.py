"""The contacts service on each engine, from its migrations: search, import, history and merge."""

import io
import select as select_module

import pytest
from service_workers import CALLER, Workers
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.orm import Session

from contacts.importer import import_csv
from contacts.models import Contact, ContactKey, OutboxEvent
from contacts.service import ContactsService
from crm_kernel.errors import ValidationFailed
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import OutboxRecorder
from crm_kernel.scope import Scope


def import_body(contacts, body: str) -> dict:
    """Import the CSV `body` as the `/import` route does, in a session of its own."""
    with Session(contacts.engine, expire_on_commit=False) as session:
        outbox = OutboxRecorder(OutboxEvent, dict(CALLER))
        return import_csv(
            session, io.BytesIO(body.encode()), outbox=outbox, definitions={}, defaults={}, scope=Scope.system()
        )


@pytest.fixture
def contacts(database_url):
    upgrade("contacts", database_url)
    engine = create_engine(database_url)
    yield Workers(ContactsService, engine, OutboxEvent)
    engine.dispose()


def test_search_finds_substrings_ignoring_case_and_accents(contacts):
    acme = contacts.create_company({"name": "Société Générale"})
    zoe = contacts.create_contact(
        {"first_name": "Zoë", "last_name": "Núñez", "emails": ["zoe@example.com"], "company_id": acme["id"]}
    )
    contacts.create_contact({"first_name": "Grace", "last_name": "Hopper", "phones": ["+14155550100"]})

    for query in ("ZOE", "ñúñ", "nunez zo", "e@exam", "societe gen", "%", "_"):
        expected = [] if query in ("%", "_") else [zoe["id"]]
        assert [c["id"] for c in contacts.list_contacts({"q": query})["items"]] == expected, query
    assert len(contacts.list_contacts({"q": "415 555"})["items"]) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the trigram index is PostgreSQL's
def test_postgresql_answers_substring_search_from_a_trigram_index(contacts, database_url):
    with contacts.engine.connect() as connection:
        definition = connection.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_contacts_search_text_trgm'")
        )
        # Fine statistics let the planner tell a broad word (walk created_at) from a rare one (the index).
        statistics = connection.scalar(
            text(
                "SELECT attstattarget FROM pg_attribute"
                " WHERE attrelid = 'contacts'::regclass AND attname = 'search_text'"
            )
        )
        connection.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            connection.scalars(text("EXPLAIN SELECT id FROM contacts WHERE search_text LIKE '%lovel%'")).all()
        )
    assert "gin" in definition and "gin_trgm_ops" in definition
    assert "ix_contacts_search_text_trgm" in plan
    assert statistics == 1000


def test_an_import_creates_its_contacts_and_events_once_on_each_engine(contacts):
    body = "first_name,email,phone\nAda,ada@example.com,\nAlan,,+44 20 7946 0000\nBad,nope,\n"

    first = import_body(contacts, body)
    second = import_body(contacts, body)

    # Ada is matched by her e-mail; Alan, with a phone only, is created again and named a possible duplicate.
    assert (first["created"], first["failed"], second["created"], second["skipped"]) == (2, 1, 1, 1)
    with Session(contacts.engine) as session:
        alans = session.scalars(select(Contact).where(Contact.first_name == "Alan").order_by(Contact.id)).all()
        types = session.scalars(select(OutboxEvent.type)).all()
        entity_ids = session.scalars(select(OutboxEvent.entity_id)).all()
    assert [alan.phones for alan in alans] == [["+442079460000"], ["+442079460000"]]
    assert second["possible_duplicates"] == [{"line": 3, "id": alans[1].id, "resembles": [alans[0].id]}]
    assert types == ["contact.created"] * 3
    assert None not in entity_ids


def test_history_and_merge_undo_survive_each_engine(contacts):
    target = contacts.create_contact({"first_name": "Ada", "emails": ["ada@a.com"]})
    source = contacts.create_contact({"first_name": "Augusta", "emails": ["ada@b.com"]})
    merge = contacts.merge_contacts(target["id"], {"source_ids": [source["id"]]})
    contacts.undo_merge(merge["merge_id"])

    history = contacts.contact_history(target["id"])["items"]

    assert [h["type"] for h in history] == ["contact.unmerged", "contact.merged", "contact.created"]
    assert history[1]["source_ids"] == [source["id"]]
    assert contacts.get_contact(source["id"])["emails"] == ["ada@b.com"]


def test_search_follows_changes_and_short_terms_the_same_way_on_each_engine(contacts):
    ada = contacts.create_contact({"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"]})
    contacts.create_contact({"first_name": "Grace", "last_name": "Hopper"})

    def found(query):
        return [c["first_name"] for c in contacts.list_contacts({"q": query})["items"]]

    assert (found("lovel"), found("ce"), found("a L"), found('"')) == (["Ada"], ["Grace", "Ada"], ["Ada"], [])
    contacts.update_contact(ada["id"], {"last_name": "Byron"})
    assert (found("lovel"), found("byro"), found("yr")) == ([], ["Ada"], ["Ada"])
    contacts.delete_contact(ada["id"])
    assert found("byro") == []
    contacts.restore_contact(ada["id"])
    assert found("byro") == ["Ada"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the FTS5 index is SQLite's
def test_sqlite_answers_substring_search_from_an_fts5_trigram_index(contacts, database_url):
    from contacts.search import contacts_matching

    with Session(contacts.engine) as session:
        stmt = contacts_matching(session, {"q": "lovel"})
        compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "contacts_fts VIRTUAL TABLE INDEX" in plan


def test_phone_digits_and_addresses_match_whole_though_the_index_is_asked_for_a_part(contacts):
    contacts.create_contact({"first_name": "Ada", "emails": ["ada.k@example.com"], "phones": ["+442071234567"]})
    contacts.create_contact({"first_name": "Bob", "emails": ["ada.k@elsewhere.org"], "phones": ["+442081234567"]})

    def found(query):
        return sorted(c["first_name"] for c in contacts.list_contacts({"q": query})["items"])

    assert found("020 7123 4567") == ["Ada"]  # the last six digits alone would find both
    assert found("1234567") == ["Ada", "Bob"]
    assert found("ada.k@example") == ["Ada"]
    assert found("ada.k@") == ["Ada", "Bob"]
    assert found("k@elsewhere.org") == ["Bob"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # round trips are PostgreSQL's
def test_a_create_on_postgresql_is_its_reads_and_one_write_each_committing_on_its_own(contacts):
    keyed = contacts.with_key("k" * 64)
    keyed.create_contact({"first_name": "Ada", "emails": ["ada@example.com"]})
    sent = []  # each statement, whether the driver sent it outside a transaction, and if it was compiled before

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, conn.connection.autocommit, context.cache_hit == CACHE_HIT))

    event.listen(contacts.engine, "before_cursor_execute", record)
    created = keyed.with_key("l" * 64).create_contact(
        {"first_name": "Ada", "last_name": "Byron", "emails": ["ada@example.com", "ab@example.com"], "tags": ["vip"]}
    )
    keyed.with_key("m" * 64).create_contact({"first_name": "Alan", "emails": ["alan@example.com"], "tags": ["b2b"]})
    event.remove(contacts.engine, "before_cursor_execute", record)

    writes = [(cached, autocommit) for statement, autocommit, cached in sent if not statement.startswith("SELECT")]
    assert len(writes) == 2 and len(sent) == 6  # each: the key, the duplicates; the write (custom fields: kept)
    assert all(autocommit for _, autocommit, _ in sent)  # no BEGIN, no COMMIT: three round trips a create
    assert writes[1] == (True, True)  # a write of the same tables as the one before: not compiled again
    assert [d["reasons"] for d in created["duplicates"]] == [["same e-mail ada@example.com"]]
    with Session(contacts.engine) as session:
        keys = session.scalars(select(ContactKey.key).where(ContactKey.contact_id == created["id"]))
        event_of = session.scalar(
            select(OutboxEvent.payload).where(
                OutboxEvent.type == "contact.created", OutboxEvent.entity_id == created["id"]
            )
        )
        assert sorted(keys) == ["e:ab@example.com", "e:ada@example.com"]
        assert event_of["entity"] == {name: value for name, value in created.items() if name != "duplicates"}


@pytest.fixture
def replicas(database_url):
    """Two processes of the contacts service on one database: each with its own pool (of one connection)."""
    upgrade("contacts", database_url)
    engines = [create_engine(database_url, pool_size=1) for _ in range(2)]
    yield [Workers(ContactsService, engine, OutboxEvent) for engine in engines]
    for engine in engines:
        engine.dispose()


def notice_arrived(engine) -> bool:
    """Wait (10 s at most) until PostgreSQL's notice of a change can be read on the process's connection,
    as it can long before a client's next request reaches the process; at once on SQLite (no notices)."""
    if engine.dialect.name != "postgresql":
        return True
    connection = engine.raw_connection()  # the pool's one connection, which listens
    try:
        return bool(select_module.select([connection.dbapi_connection], [], [], 10)[0])
    finally:
        connection.close()


def test_a_custom_field_defined_changed_or_deleted_through_one_replica_applies_on_the_other(replicas):
    one, other = replicas
    one.create_contact({"first_name": "Ada"})  # `one` has read (and on PostgreSQL keeps) the definitions

    other.create_field_definition({"key": "tier", "label": "Tier", "type": "choice", "choices": ["a", "b"]})
    assert notice_arrived(one.engine)
    assert one.create_contact({"first_name": "Grace", "attributes": {"tier": "a"}})["attributes"] == {"tier": "a"}

    other.update_field_definition("tier", {"required": True})
    assert notice_arrived(one.engine)
    with pytest.raises(ValidationFailed) as refused:
        one.create_contact({"first_name": "Alan"})
    assert refused.value.errors == {"attributes.tier": ["required"]}

    other.delete_field_definition("tier")
    assert notice_arrived(one.engine)
    with pytest.raises(ValidationFailed) as refused:
        one.create_contact({"first_name": "Alan", "attributes": {"tier": "a"}})
    assert list(refused.value.errors) == ["attributes.tier"]
    assert one.create_contact({"first_name": "Alan"})["attributes"] == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # kept only where reading costs a round trip
def test_creates_read_the_custom_fields_once_while_nothing_changes(replicas):
    one, _ = replicas
    read = []
    listen = ("before_cursor_execute", lambda *args: read.append("contact_fields" in args[2] and "SELECT" in args[2]))
    event.listen(one.engine, *listen)
    for name in ("Ada", "Grace", "Alan"):
        one.create_contact({"first_name": name})
    event.remove(one.engine, *listen)

    assert read.count(True) == 1
