"""The contract between services, docs/events.md, checked against the code on both of its sides.

Producers: every entity field the document lists for an event type is one the producer's own
marshmallow schema dumps (the events carry `Schema().dump(entity)`). Consumers: every event handler
subscribes to a type its source service is documented to publish, and reporting reads only fields
that the producer's schema dumps. A field renamed or dropped on one side fails here, not in production.
"""

import inspect
import re
from pathlib import Path

import pytest
from nameko.events import EventHandler

from contacts.schemas import CompanySchema, ContactSchema, FieldDefinitionSchema
from crm_kernel.topology import SERVICE_CLASSES, service_class
from documents.schemas import DocumentSchema
from gateway.schemas import DepartmentSchema, UserSchema
from interactions.schemas import (
    CampaignSchema,
    DealSchema,
    InteractionSchema,
    ResponseSchema,
    SlaPolicySchema,
    TaskSchema,
    TicketSchema,
)
from reporting.schemas import PlanSchema

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "events.md"
SECTIONS = {"gateway (identity)": "gateway", "contacts": "contacts", "interactions": "interactions"}
SECTIONS |= {"documents": "documents", "reporting": "reporting"}
SCHEMAS = {
    "Department": DepartmentSchema,
    "User": UserSchema,
    "Contact": ContactSchema,
    "Company": CompanySchema,
    "ContactField": FieldDefinitionSchema,
    "Interaction": InteractionSchema,
    "Ticket": TicketSchema,
    "SlaPolicy": SlaPolicySchema,
    "Deal": DealSchema,
    "Task": TaskSchema,
    "Campaign": CampaignSchema,
    "Response": ResponseSchema,
    "Document": DocumentSchema,
    "Plan": PlanSchema,
}


def documented() -> dict[str, dict]:
    """`{event type: {"service", "entity", "fields"}}` from the tables of docs/events.md."""
    events, service = {}, None
    for line in EVENTS_MD.read_text().splitlines():
        if line.startswith("## "):
            service = SECTIONS.get(line[3:].strip())
        if service is None or not line.startswith("| `"):
            continue
        types_cell, entity_cell = line.split("|")[1:3]
        entity = re.match(r"\s*(?:the (?:target )?)?(\w+)", entity_cell).group(1)
        fields = re.findall(r"`(\w+)`", entity_cell.split(":", 1)[1]) if ":" in entity_cell else []
        for event_type in re.findall(r"`([\w]+\.[\w]+)`", types_cell):
            events[event_type] = {"service": service, "entity": entity, "fields": fields}
    return events


EVENTS = documented()


def dumped_fields(schema_class) -> set[str]:
    return {
        field.data_key or name
        for name, field in schema_class().fields.items()
        if not getattr(field, "load_only", False)
    }


def test_the_document_lists_every_service_and_the_types_the_consumers_rely_on():
    assert {event["service"] for event in EVENTS.values()} == set(SECTIONS.values())
    assert {"contact.created", "ticket.sla_breached", "deal.stage_changed", "campaign.response_recorded"} <= set(EVENTS)


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_each_documented_entity_field_is_dumped_by_the_producers_schema(event_type):
    event = EVENTS[event_type]
    assert event["entity"] in SCHEMAS, f"{event_type}: no schema known for {event['entity']}"

    missing = set(event["fields"]) - dumped_fields(SCHEMAS[event["entity"]])

    assert not missing, f"{event_type}: docs/events.md lists {sorted(missing)}, the producer's schema never dumps them"


def subscriptions() -> list[tuple[str, str, str]]:
    """`(consumer, source service, event type)` of every event handler of every service."""
    found = []
    for consumer in SERVICE_CLASSES:
        for _, method in inspect.getmembers(service_class(consumer), inspect.isfunction):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler):
                    found.append((consumer, entrypoint.source_service, entrypoint.event_type))
    return sorted(found)


@pytest.mark.parametrize(("consumer", "source", "event_type"), subscriptions())
def test_each_consumer_subscribes_to_a_type_its_source_is_documented_to_publish(consumer, source, event_type):
    assert event_type in EVENTS, f"{consumer} consumes {source}'s {event_type}, which docs/events.md does not list"
    assert EVENTS[event_type]["service"] == source, f"{event_type} is published by {EVENTS[event_type]['service']}"


# What reporting reads of each entity (services/reporting/reporting/projection.py), by event type.
REPORTING_READS = {  # a renamed field would read as None there (`.get`), silently dropping facts
    "contact.created": {"id", "created_at", "owner_id", "department_id"},
    "interaction.created": {"id", "occurred_at", "user_id", "department_id", "channel", "direction"},
    "ticket.created": {"id", "created_at", "assignee_id", "department_id", "priority", "first_response_at"}
    | {"resolved_at", "sla_due_at", "breached_at"},
    "deal.created": {"id", "created_at", "updated_at", "owner_id", "department_id", "stage", "amount", "currency"},
    "task.created": {"id", "assignee_id", "department_id", "due_at", "completed_at", "status"},
    "campaign.response_recorded": {"id", "occurred_at", "user_id", "department_id", "kind", "campaign_id"},
}


@pytest.mark.parametrize("event_type", sorted(REPORTING_READS))
def test_what_reporting_reads_of_an_entity_the_producer_dumps(event_type):
    producer = SCHEMAS[EVENTS[event_type]["entity"]]

    assert REPORTING_READS[event_type] <= dumped_fields(producer)


ROOT = Path(__file__).resolve().parents[2]
SOURCES = {name: ROOT / "services" / name / name for name in ("contacts", "interactions", "documents", "reporting")}
SOURCES["gateway"] = ROOT / "gateway" / "gateway"
RECORDED = re.compile(r"""(?:\.add\(\s*[\w.]+,\s*|event_rows\(\s*)f?["']([a-z_]+|\{\w+\})\.([a-z_]+)["']""")


def published_by(service: str) -> set[str]:
    """The event types `service`'s code records in its outbox. A type built as f"{kind}.verb" (one
    path shared by several entities) counts for each entity the service names literally."""
    found = [match for path in SOURCES[service].glob("*.py") for match in RECORDED.findall(path.read_text())]
    entities = {entity for entity, _ in found if not entity.startswith("{")}
    return {f"{entity}.{verb}" for kind, verb in found for entity in ([kind] if kind in entities else entities)}


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_a_service_publishes_exactly_the_types_documented_under_its_name(service):
    documented_here = {event_type for event_type, event in EVENTS.items() if event["service"] == service}

    assert published_by(service) == documented_here
