"""Small factories of the events reporting consumes (docs/events.md), for known event sequences."""

import itertools

from crm_kernel.outbox import make_event

_ids = itertools.count(1)
CALLER = {"actor": "u1", "request_id": "r1"}


def next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def event(event_type: str, entity: dict, occurred_at: str | None = None, **extra) -> dict:
    made = make_event(event_type, entity, CALLER, **extra)
    if occurred_at:
        made["occurred_at"] = occurred_at
    return made


def contact_created(created_at: str, owner_id="u7", department_id="d3", **fields) -> dict:
    contact = {"id": next_id("c"), "created_at": created_at, "owner_id": owner_id, "department_id": department_id}
    return event("contact.created", contact | fields, created_at)


def interaction_created(occurred_at: str, channel="call", direction="inbound", user_id="u7", department_id="d3"):
    interaction = {
        "id": next_id("i"),
        "occurred_at": occurred_at,
        "channel": channel,
        "direction": direction,
        "user_id": user_id,
        "department_id": department_id,
    }
    return event("interaction.created", interaction, occurred_at)


def ticket(created_at: str, assignee_id="u7", department_id="d3", **fields) -> dict:
    return {
        "id": next_id("t"),
        "contact_id": "c1",
        "subject": "Broken",
        "priority": "normal",
        "status": "new",
        "assignee_id": assignee_id,
        "department_id": department_id,
        "sla_due_at": None,
        "first_response_at": None,
        "resolved_at": None,
        "created_at": created_at,
    } | fields


def deal(created_at: str, stage="lead", owner_id="u7", department_id="d3", **fields) -> dict:
    return {
        "id": next_id("deal"),
        "contact_id": "c1",
        "title": "Engines",
        "amount": "1000.00",
        "currency": "EUR",
        "stage": stage,
        "owner_id": owner_id,
        "department_id": department_id,
        "created_at": created_at,
    } | fields


def deal_history(created_at: str, moves: list[tuple[str, str]], **fields) -> list[dict]:
    """`deal.created` in stage lead, then one `deal.stage_changed` per `(stage, at)`."""
    current = deal(created_at, **fields)
    events = [event("deal.created", current, created_at)]
    for stage, at in moves:
        previous, current = current["stage"], current | {"stage": stage}
        events.append(event("deal.stage_changed", current, at, from_stage=previous, to_stage=stage))
    return events


def task(due_at: str, completed_at=None, assignee_id="u7", department_id="d3", **fields) -> dict:
    status = "done" if completed_at else "open"
    return {
        "id": next_id("task"),
        "title": "Call back",
        "due_at": due_at,
        "assignee_id": assignee_id,
        "department_id": department_id,
        "status": status,
        "completed_at": completed_at,
    } | fields


def response_recorded(kind: str, occurred_at: str, campaign_id="camp1", user_id="u7", department_id="d3"):
    response = {
        "id": next_id("resp"),
        "campaign_id": campaign_id,
        "contact_id": "c1",
        "kind": kind,
        "occurred_at": occurred_at,
        "user_id": user_id,
        "department_id": department_id,
    }
    return event("campaign.response_recorded", response, occurred_at)


def department(department_id: str, name: str, parent_id=None, event_type="department.created") -> dict:
    entity = {"id": department_id, "name": name, "parent_id": parent_id, "timezone": "Europe/Berlin"}
    return event(event_type, entity)


def user(user_id: str, name: str, department_id: str | None, event_type="user.created") -> dict:
    entity = {"id": user_id, "email": f"{user_id}@example.com", "name": name, "role": "agent"}
    return event(event_type, entity | {"department_id": department_id, "timezone": "UTC", "active": True})


def consumer_of(reporting, event_type: str):
    """The reporting consumer of `event_type`, as the broker would deliver to it (a list of events)."""
    return getattr(reporting, f"on_{event_type.replace('.', '_')}")


def apply(reporting, *events) -> None:
    """Each event delivered on its own to its consumer, applied once and committed; an event reporting
    does not consume is not delivered to it."""
    for each in events:
        if hasattr(reporting.service_cls, f"on_{each['type'].replace('.', '_')}"):
            consumer_of(reporting, each["type"])([each])


def apply_batch(reporting, events: list[dict]) -> None:
    """`events` delivered as one batch to one consumer (every reporting consumer applies whatever
    events it gets by their types): one transaction."""
    consumer_of(reporting, events[0]["type"])(events)
