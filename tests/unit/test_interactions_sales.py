"""Deals, tasks, campaigns, the timeline and merges, through the service's methods."""

from datetime import UTC, datetime, timedelta

import pytest
from interactions_contacts import known_contacts

from crm_kernel.errors import Conflict, ValidationFailed
from crm_kernel.outbox import make_event
from interactions import tasks
from interactions.models import Base, OutboxEvent
from interactions.service import InteractionsService


@pytest.fixture
def service(workers):
    return workers(InteractionsService, Base, OutboxEvent)


@pytest.fixture
def contacts(monkeypatch):
    return known_contacts(monkeypatch)


def events(service, event_type):
    return [row.payload for row in service.rows(OutboxEvent, OutboxEvent.id) if row.type == event_type]


def deal_data(**overrides):
    return {"contact_id": "c1", "title": "3 engines", "amount": "1250.5", "currency": "EUR"} | overrides


# -- deals -------------------------------------------------------------------------------------


def test_a_deals_negotiation_history_can_be_replayed_with_who_and_when(service):
    deal = service.create_deal(deal_data(), "u1")
    for stage in ("qualified", "proposal", "negotiation", "won"):
        service.transition_deal(deal["id"], {"stage": stage}, "u2")

    history = service.deal_history(deal["id"])

    steps = [(item["from_stage"], item["to_stage"], item["changed_by"]) for item in history["items"]]
    assert steps == [
        (None, "lead", "u1"),
        ("lead", "qualified", "u2"),
        ("qualified", "proposal", "u2"),
        ("proposal", "negotiation", "u2"),
        ("negotiation", "won", "u2"),
    ]
    assert history["deal"]["stage"] == "won"
    assert [(e["from_stage"], e["to_stage"]) for e in events(service, "deal.stage_changed")][-1] == (
        "negotiation",
        "won",
    )


def test_an_amount_is_a_decimal_string_with_an_iso_currency(service):
    deal = service.create_deal(deal_data(amount="1250.5"))

    assert (deal["amount"], deal["currency"]) == ("1250.50", "EUR")
    with pytest.raises(ValidationFailed) as refused:
        service.create_deal(deal_data(amount=1250.5, currency="euro"))
    assert sorted(refused.value.errors) == ["amount", "currency"]


def test_a_lost_deal_names_its_reason_and_a_skipped_stage_is_a_conflict(service):
    deal = service.create_deal(deal_data())

    with pytest.raises(Conflict):
        service.transition_deal(deal["id"], {"stage": "won"})
    with pytest.raises(ValidationFailed) as refused:
        service.transition_deal(deal["id"], {"stage": "lost"})
    lost = service.transition_deal(deal["id"], {"stage": "lost", "lost_reason": "went with a competitor"})

    assert list(refused.value.errors) == ["lost_reason"]
    assert (lost["stage"], lost["lost_reason"]) == ("lost", "went with a competitor")
    assert len(service.deal_history(deal["id"])["items"]) == 2


def test_a_deals_stage_is_not_patched(service):
    deal = service.create_deal(deal_data())

    with pytest.raises(ValidationFailed) as refused:
        service.update_deal(deal["id"], {"stage": "won"})

    assert list(refused.value.errors) == ["stage"]
    assert service.get_deal(deal["id"])["stage"] == "lead"


# -- tasks -------------------------------------------------------------------------------------


def test_a_due_time_without_a_zone_is_refused(service):
    with pytest.raises(ValidationFailed) as refused:
        service.create_task({"title": "Call back", "due_at": "2026-03-10T15:00:00"})

    assert "without a zone" in refused.value.errors["due_at"][0]


def test_a_task_is_due_in_utc_and_on_its_assignees_clock(service):
    entity = {"id": "u1", "email": "a@example.com", "role": "agent", "department_id": "d1", "timezone": "Asia/Tokyo"}
    service.on_user_created(make_event("user.created", entity, {}))

    task = service.create_task({"title": "Call back", "due_at": "2026-03-10T15:00:00+01:00", "assignee_id": "u1"})

    assert task["due_at"] == "2026-03-10T14:00:00+00:00"
    assert task["due_local"] == "2026-03-10T23:00:00+09:00"
    assert (
        service.create_task({"title": "x", "due_at": "2026-03-10T15:00:00Z", "assignee_id": "nobody"})["due_local"]
        is None
    )


def test_overdue_tasks_are_listed_per_assignee_and_department(service, clock):
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    clock(now, tasks)
    past, future = (now - timedelta(hours=2)).isoformat(), (now + timedelta(hours=2)).isoformat()
    late = service.create_task({"title": "late", "due_at": past, "assignee_id": "u1", "department_id": "d1"})
    service.create_task({"title": "on time", "due_at": future, "assignee_id": "u1", "department_id": "d1"})
    done = service.create_task({"title": "done", "due_at": past, "assignee_id": "u1", "department_id": "d1"})
    service.update_task(done["id"], {"status": "done"})
    service.create_task({"title": "someone else's", "due_at": past, "assignee_id": "u2", "department_id": "d2"})

    assert [t["id"] for t in service.list_overdue_tasks({"assignee_id": "u1"})["items"]] == [late["id"]]
    assert [t["id"] for t in service.list_overdue_tasks({"department_id": "d1"})["items"]] == [late["id"]]
    completed = events(service, "task.completed")
    assert [e["entity"]["id"] for e in completed] == [done["id"]]
    assert completed[0]["entity"]["completed_at"] == now.isoformat()


# -- campaigns ---------------------------------------------------------------------------------


def test_an_offer_is_sent_only_to_contacts_who_agreed_to_marketing_as_the_contacts_service_says(service, contacts):
    campaign = service.create_campaign({"name": "Spring", "offer": "10% off", "department_id": "d1"})

    with pytest.raises(ValidationFailed) as refused:
        service.record_campaign_response(campaign["id"], {"contact_id": "c2", "kind": "sent"}, True)
    service.record_campaign_response(campaign["id"], {"contact_id": "c1", "kind": "sent"})
    service.record_campaign_response(campaign["id"], {"contact_id": "c1", "kind": "opened"})
    service.record_campaign_response(campaign["id"], {"contact_id": "c2", "kind": "converted"})

    assert refused.value.errors == {"contact_id": ["no marketing consent"]}
    assert str(refused.value) == "contact c2 has not agreed to marketing; the offer cannot be sent"
    responses = service.list_campaign_responses(campaign["id"], {})
    assert [r["kind"] for r in responses["items"]] == ["converted", "opened", "sent"]
    assert responses["counts"] == {"sent": 1, "opened": 1, "clicked": 0, "replied": 0, "converted": 1, "declined": 0}
    recorded = events(service, "campaign.response_recorded")
    assert [e["entity"]["department_id"] for e in recorded] == ["d1", "d1", "d1"]


# -- timeline and merges -----------------------------------------------------------------------


def document_event(document_id, contact_id, created_at, event_type="document.created"):
    entity = {"id": document_id, "title": "Complaint letter", "kind": "complaint", "status": "draft"}
    return make_event(event_type, entity | {"contact_id": contact_id, "created_at": created_at}, {})


def test_a_contacts_timeline_pages_through_everything_newest_first(service):
    service.create_interaction(
        {"contact_id": "c1", "channel": "call", "occurred_at": "2020-01-01T10:00:00+00:00", "subject": "first call"}
    )
    service.on_document_created(document_event("doc1", "c1", "2021-01-01T10:00:00+00:00"))
    service.create_ticket({"contact_id": "c1", "subject": "complaint"})
    service.create_deal(deal_data())
    service.create_task({"title": "call back", "contact_id": "c1"})
    service.create_interaction({"contact_id": "c2", "channel": "call", "occurred_at": "2026-01-01T10:00:00+00:00"})

    seen, cursor = [], None
    while True:
        page = service.contact_timeline("c1", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert sorted(item["kind"] for item in seen) == ["deal", "document", "interaction", "task", "ticket"]
    assert [item["kind"] for item in seen[-2:]] == ["document", "interaction"]
    moments = [item["occurred_at"] for item in seen]
    assert moments == sorted(moments, reverse=True)
    assert seen[-1]["entity"]["subject"] == "first call"


def test_a_merge_points_every_record_of_the_sources_at_the_target_once(service):
    interaction = service.create_interaction(
        {"contact_id": "src", "channel": "email", "occurred_at": "2026-01-01T10:00:00Z"}
    )
    ticket = service.create_ticket({"contact_id": "src", "subject": "s"})
    deal = service.create_deal(deal_data(contact_id="src2"))
    task = service.create_task({"title": "t", "contact_id": "src"})
    campaign = service.create_campaign({"name": "c"})
    service.record_campaign_response(campaign["id"], {"contact_id": "src", "kind": "opened"})
    service.on_document_created(document_event("doc1", "src", "2026-01-01T10:00:00+00:00"))
    merged = make_event("contact.merged", {"id": "target"}, {}, source_ids=["src", "src2"], merge_id="m1")

    service.on_contact_merged(merged)
    service.on_contact_merged(merged)  # a redelivery changes nothing

    assert service.get_interaction(interaction["id"])["contact_id"] == "target"
    assert service.get_ticket(ticket["id"])["contact_id"] == "target"
    assert service.get_deal(deal["id"])["contact_id"] == "target"
    assert service.get_task(task["id"])["contact_id"] == "target"
    assert service.list_campaign_responses(campaign["id"], {})["items"][0]["contact_id"] == "target"
    assert len(service.contact_timeline("target", {})["items"]) == 5
    assert service.contact_timeline("src", {})["items"] == []
    assert service.get_ticket(ticket["id"])["version"] == 2  # its ETag changed with it
