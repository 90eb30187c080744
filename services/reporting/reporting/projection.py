"""From the newest snapshot of an entity to the facts it contributes: plain functions, no broker, no database.

An entity's facts are a function of its current state (and, for deals, its stage timeline), so a
redelivered, repeated or late event can never make a fact count twice: the facts are replaced whole.
"""

from datetime import datetime

# Which kind of entity each consumed event type carries (`<kind>:<id>` is the source of its facts).
KIND_OF_EVENT = {
    "contact.created": "contact",
    "interaction.created": "interaction",
    "interaction.updated": "interaction",
    "interaction.deleted": "interaction",
    "ticket.created": "ticket",
    "ticket.updated": "ticket",
    "ticket.transitioned": "ticket",
    "ticket.commented": "ticket",
    "ticket.sla_breached": "ticket",
    "deal.created": "deal",
    "deal.updated": "deal",
    "deal.stage_changed": "deal",
    "deal.deleted": "deal",
    "task.created": "task",
    "task.updated": "task",
    "task.completed": "task",
    "task.deleted": "task",
    "campaign.response_recorded": "response",
}
DELETING_EVENTS = {"interaction.deleted", "deal.deleted", "task.deleted"}
CLOSED_TASK_STATUSES = {"cancelled", "canceled"}


def instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def source_of(event: dict) -> str:
    return f"{KIND_OF_EVENT[event['type']]}:{event['entity']['id']}"


def sticky_extras(event: dict) -> dict:
    """What an event adds to its entity's snapshot that later snapshots do not carry."""
    if event["type"] == "ticket.sla_breached":
        return {"breached_at": event.get("breached_at") or event["entity"].get("sla_due_at") or event["occurred_at"]}
    return {}


def _fact(kpi: str, source: str, at: datetime, user_id, department_id, **dimensions) -> dict:
    return {
        "id": f"{kpi}:{source}",
        "source": source,
        "kpi": kpi,
        "occurred_at": at,
        "user_id": user_id,
        "department_id": department_id,
        "dimensions": dimensions,
    }


def facts_of(kind: str, entity: dict, stages: list[tuple[str, datetime]] = ()) -> list[dict]:
    """The facts an entity of `kind` in state `entity` contributes (`stages`: a deal's timeline)."""
    if kind == "deal":
        return deal_facts(entity, list(stages))
    projections = {
        "contact": contact_facts,
        "interaction": interaction_facts,
        "ticket": ticket_facts,
        "task": task_facts,
        "response": response_facts,
    }
    return projections[kind](entity)


def contact_facts(contact: dict) -> list[dict]:
    source = f"contact:{contact['id']}"
    created = instant(contact["created_at"])
    return [_fact("contacts_created", source, created, contact.get("owner_id"), contact.get("department_id"))]


def interaction_facts(interaction: dict) -> list[dict]:
    source = f"interaction:{interaction['id']}"
    return [
        _fact(
            "interactions",
            source,
            instant(interaction["occurred_at"]),
            interaction.get("user_id"),
            interaction.get("department_id"),
            channel=interaction.get("channel"),
            direction=interaction.get("direction"),
        )
    ]


def ticket_facts(ticket: dict) -> list[dict]:
    """Opened when created; first response and resolution times from creation; SLA judged when the
    ticket breached it (`breached_at`) or was resolved (met when resolved by `sla_due_at`)."""
    source = f"ticket:{ticket['id']}"
    who = (ticket.get("assignee_id"), ticket.get("department_id"))
    created, responded = instant(ticket["created_at"]), instant(ticket.get("first_response_at"))
    resolved, due, breached = (instant(ticket.get(name)) for name in ("resolved_at", "sla_due_at", "breached_at"))
    facts = [_fact("tickets_opened", source, created, *who, priority=ticket.get("priority"))]
    if responded:
        seconds = (responded - created).total_seconds()
        facts.append(_fact("first_response_time", source, responded, *who, seconds=seconds))
    if resolved:
        facts.append(_fact("tickets_resolved", source, resolved, *who))
        facts.append(_fact("resolution_time", source, resolved, *who, seconds=(resolved - created).total_seconds()))
    if breached:
        facts.append(_fact("sla_compliance", source, breached, *who, met=False))
    elif resolved and due:
        facts.append(_fact("sla_compliance", source, resolved, *who, met=resolved <= due))
    return facts


def deal_facts(deal: dict, stages: list[tuple[str, datetime]]) -> list[dict]:
    """Created when created; won or lost when it last entered that stage, if it is still there."""
    source = f"deal:{deal['id']}"
    who = (deal.get("owner_id"), deal.get("department_id"))
    facts = [_fact("deals_created", source, instant(deal["created_at"]), *who)]
    stage = deal.get("stage")
    if stage in ("won", "lost"):
        entered = [at for name, at in stages if name == stage]
        at = max(entered) if entered else instant(deal.get("updated_at") or deal["created_at"])
        facts.append(
            _fact(f"deals_{stage}", source, at, *who, amount=deal.get("amount"), currency=deal.get("currency"))
        )
    return facts


def task_facts(task: dict) -> list[dict]:
    """Completed when completed; overdue at its due time when it was not completed by then (the
    report counts an overdue fact only once its due time has passed)."""
    source = f"task:{task['id']}"
    who = (task.get("assignee_id"), task.get("department_id"))
    due, completed = instant(task.get("due_at")), instant(task.get("completed_at"))
    facts = []
    if completed:
        facts.append(_fact("tasks_completed", source, completed, *who))
    late = completed is None or completed > due if due else False
    if due and late and task.get("status") not in CLOSED_TASK_STATUSES:
        facts.append(_fact("tasks_overdue", source, due, *who))
    return facts


def response_facts(response: dict) -> list[dict]:
    source = f"response:{response['id']}"
    return [
        _fact(
            "campaign_responses",
            source,
            instant(response["occurred_at"]),
            response.get("user_id"),
            response.get("department_id"),
            kind=response.get("kind"),
            campaign_id=response.get("campaign_id"),
        )
    ]
