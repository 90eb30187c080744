"""Interactions storage on SQLite and PostgreSQL: money, time and the timeline's keyset."""

from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session

from crm_kernel.idempotency import IdempotentWrites
from crm_kernel.migrations import upgrade
from crm_kernel.outbox import OutboxRecorder, make_event
from crm_kernel.scope import Scope
from interactions import interactions
from interactions.models import IdempotentWrite, Interaction, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def call(database_url):
    """`call(method, *args)`: one worker and session per call, as Nameko runs them, on a migrated database."""
    upgrade("interactions", database_url)
    engine = create_engine(database_url)

    def run(method, *args):
        with Session(engine, expire_on_commit=False) as session:
            worker = worker_factory(
                InteractionsService,
                db=session,
                outbox=OutboxRecorder(OutboxEvent, {}),
                once=IdempotentWrites(IdempotentWrite, None, method),
            )
            return getattr(worker, method)(*args)

    yield run
    engine.dispose()


def test_an_amount_comes_back_exactly_as_a_decimal_string(call):
    deal = call("create_deal", {"contact_id": "c1", "title": "t", "amount": "12345678901234.5678", "currency": "JPY"})

    assert call("get_deal", deal["id"])["amount"] == "12345678901234.5678"


def test_the_timeline_pages_without_gaps_or_repeats_across_kinds_at_the_same_moment(call):
    moment = "2026-03-10T10:00:00+00:00"
    for n in range(3):
        call("create_interaction", {"contact_id": "c1", "channel": "note", "occurred_at": moment, "subject": f"n{n}"})
        entity = {"id": f"doc{n}", "title": "t", "kind": "other", "status": "draft", "contact_id": "c1"}
        call("on_document_created", make_event("document.created", entity | {"created_at": moment}, {}))

    seen, cursor = [], None
    while True:
        page = call("contact_timeline", "c1", {"limit": 4, **({"cursor": cursor} if cursor else {})})
        seen += [(item["kind"], item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert len(seen) == len(set(seen)) == 6
    assert [kind for kind, _ in seen] == ["interaction"] * 3 + ["document"] * 3  # (occurred_at, kind, id) descending
    assert [item_id for kind, item_id in seen if kind == "document"] == ["doc2", "doc1", "doc0"]


def test_an_interaction_is_stored_as_answered_with_its_event_and_a_racing_twin_writes_nothing(database_url):
    upgrade("interactions", database_url)
    engine = create_engine(database_url)
    once = IdempotentWrites(IdempotentWrite, "k" * 64, "create_interaction")
    data = {"contact_id": "c1", "channel": "call", "direction": "inbound", "occurred_at": "2026-03-10T10:00:00+01:00"}
    sent = []  # whether the driver sent each statement outside a transaction (PostgreSQL)
    event.listen(
        engine, "before_cursor_execute", lambda conn, *args: sent.append(getattr(conn.connection, "autocommit", None))
    )

    def create() -> dict:
        # `interactions.create` as its worker runs it once the first-answer check found nothing (both twins did).
        with Session(engine, expire_on_commit=False) as session:
            return interactions.create(
                session, Scope.system(), data, events=OutboxRecorder(OutboxEvent, {}), contacts=Mock(), once=once
            )

    first = create()
    statements_of_one = list(sent)
    twin = create()

    assert twin == first
    with Session(engine) as session:
        [stored] = session.scalars(select(Interaction)).all()
        [announced] = session.scalars(select(OutboxEvent)).all()
        assert (stored.id, stored.version, stored.subject, stored.requirements) == (first["id"], 1, "", [])
        assert stored.occurred_at.isoformat() == first["occurred_at"] == "2026-03-10T09:00:00+00:00"
        assert (announced.type, announced.payload["entity"]) == ("interaction.created", first)
    if engine.dialect.name == "postgresql":
        assert statements_of_one == [True]  # its row, its event and its record: one statement, no BEGIN or COMMIT
    engine.dispose()
