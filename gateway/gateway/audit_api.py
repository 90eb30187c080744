"""`GET /api/v1/audit?entity=&id=`: who changed a record, when, and what, from its service's outbox."""

from marshmallow import fields, validate

from crm_kernel.errors import NotFound
from crm_kernel.http import api, query_args
from crm_kernel.outbox import audit_trail
from crm_kernel.schemas import StrictSchema, load
from gateway.models import OutboxEvent
from gateway.openapi import ERRORS, json_content, own_schema, query_parameters
from gateway.routing import V1

# Which service records the events of each kind of entity (docs/events.md).
ENTITY_SERVICES = {
    "contact": "contacts",
    "company": "contacts",
    "interaction": "interactions",
    "ticket": "interactions",
    "deal": "interactions",
    "task": "interactions",
    "campaign": "interactions",
    "document": "documents",
    "plan": "reporting",
    "department": "gateway",
    "user": "gateway",
}


class AuditQuerySchema(StrictSchema):
    entity = fields.String(required=True, validate=validate.OneOf(sorted(ENTITY_SERVICES)))
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class AuditApi:
    @api("GET", f"{V1}/audit")
    def audit(self, request):
        caller = self.auth.require(request, "admin", "manager")
        query = load(AuditQuerySchema(), query_args(request))
        entity, entity_id = query["entity"], query["id"]
        service = ENTITY_SERVICES[entity]
        if service == "gateway":
            trail = audit_trail(self.db, OutboxEvent, entity, entity_id, query["limit"])
            if entity == "department":
                for entry in trail:
                    entry["department_id"] = entity_id
        else:
            trail = getattr(self, service).audit(entity, entity_id, query["limit"])
        # A manager sees the trail of records in their departments; anything else reads as absent.
        if not trail or not (caller.unrestricted or trail[0]["department_id"] in caller.departments):
            raise NotFound(f"no audit trail for {entity} {entity_id}")
        return {"items": trail}

    @staticmethod
    def describe(spec):
        entry = {
            "type": "object",
            "properties": {
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string", "nullable": True},
                "request_id": {"type": "string", "nullable": True},
                "changes": {"type": "object", "nullable": True},
                "department_id": {"type": "string", "nullable": True},
            },
        }
        parameters = query_parameters(own_schema(AuditQuerySchema))
        page = {"type": "object", "properties": {"items": {"type": "array", "items": entry}}}
        spec.path(
            path=f"{V1}/audit",
            operations={
                "get": {
                    "tags": ["audit"],
                    "parameters": parameters,
                    "responses": {"200": {"description": "Newest first", **json_content(page)}, **ERRORS},
                }
            },
        )
