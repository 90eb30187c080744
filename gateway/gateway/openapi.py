"""`GET /api/v1/openapi.json`: the contract, built from the same marshmallow schemas that validate."""

from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from contacts.schemas import ContactSchema
from documents.schemas import DocumentSchema
from gateway.schemas import DepartmentSchema, TokenRequestSchema, UserSchema
from interactions.schemas import InteractionSchema

PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["type", "title", "status"],
}
ERRORS = {
    str(code): {
        "description": text,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code, text in [
        (400, "Malformed request"),
        (401, "Missing or invalid token"),
        (403, "Role not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (412, "Stale If-Match"),
        (413, "Too large"),
        (422, "Invalid input; `errors` names each field"),
        (503, "A service or the broker is unavailable; retry after Retry-After"),
    ]
}
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "sort", "in": "query", "schema": {"type": "string"}},
]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _page(name: str) -> dict:
    return _json(
        {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _ref(name)},
                "next_cursor": {"type": "string", "nullable": True},
            },
        }
    )


def _crud(spec: APISpec, path: str, name: str, tag: str, *, update=True, delete=True, filters=()) -> None:
    item = f"{path}/{{id}}"
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    list_params = PAGE_PARAMS + [{"name": f, "in": "query", "schema": {"type": "string"}} for f in filters]
    spec.path(
        path=path,
        operations={
            "post": {
                "tags": [tag],
                "requestBody": _json(_ref(name)),
                "responses": {"201": {"description": "Created", **_json(_ref(name))}, **ERRORS},
            },
            "get": {
                "tags": [tag],
                "parameters": list_params,
                "responses": {"200": {"description": "A page", **_page(name)}, **ERRORS},
            },
        },
    )
    operations = {
        "get": {
            "tags": [tag],
            "parameters": id_param,
            "responses": {"200": {"description": "With ETag", **_json(_ref(name))}, **ERRORS},
        }
    }
    if update:
        if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
        operations["patch"] = {
            "tags": [tag],
            "parameters": [*id_param, if_match],
            "requestBody": _json(_ref(name)),
            "responses": {"200": {"description": "Changed", **_json(_ref(name))}, **ERRORS},
        }
    if delete:
        operations["delete"] = {
            "tags": [tag],
            "parameters": id_param,
            "responses": {"204": {"description": "Deleted"}, **ERRORS},
        }
    spec.path(path=item, operations=operations)


@cache
def openapi_document() -> dict:
    spec = APISpec(
        title="CRM platform API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Contacts, interactions, documents and reports. Errors are application/problem+json."},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Problem", PROBLEM)
    for name, schema in [
        ("Department", DepartmentSchema),
        ("User", UserSchema),
        ("Contact", ContactSchema),
        ("Interaction", InteractionSchema),
        ("Document", DocumentSchema),
        ("TokenRequest", TokenRequestSchema),
    ]:
        spec.components.schema(name, schema=schema)
    token = {
        "type": "object",
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer"},
        },
    }
    spec.path(
        path="/api/v1/auth/token",
        operations={
            "post": {
                "tags": ["auth"],
                "security": [],
                "requestBody": _json(_ref("TokenRequest")),
                "responses": {"200": {"description": "A bearer token", **_json(token)}, **ERRORS},
            }
        },
    )
    _crud(spec, "/api/v1/departments", "Department", "departments")
    _crud(spec, "/api/v1/users", "User", "users")
    spec.path(
        path="/api/v1/users/me",
        operations={
            "get": {
                "tags": ["users"],
                "responses": {"200": {"description": "The caller", **_json(_ref("User"))}, **ERRORS},
            }
        },
    )
    _crud(
        spec, "/api/v1/contacts", "Contact", "contacts", filters=("q", "tag", "company_id", "owner_id", "department_id")
    )
    _crud(
        spec,
        "/api/v1/interactions",
        "Interaction",
        "interactions",
        update=False,
        delete=False,
        filters=("contact_id", "user_id", "channel"),
    )
    upload = {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{f: {"type": "string"} for f in ("title", "kind", "contact_id", "deal_id", "ticket_id")},
                    },
                }
            }
        }
    }
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    spec.path(
        path="/api/v1/documents",
        operations={
            "post": {
                "tags": ["documents"],
                "requestBody": upload,
                "responses": {"201": {"description": "Stored", **_json(_ref("Document"))}, **ERRORS},
            }
        },
    )
    spec.path(
        path="/api/v1/documents/{id}",
        operations={
            "get": {
                "tags": ["documents"],
                "parameters": id_param,
                "responses": {"200": {"description": "Metadata", **_json(_ref("Document"))}, **ERRORS},
            }
        },
    )
    spec.path(
        path="/api/v1/documents/{id}/content",
        operations={
            "get": {
                "tags": ["documents"],
                "parameters": id_param,
                "responses": {
                    "200": {
                        "description": "The bytes, checked against their SHA-256",
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **ERRORS,
                },
            }
        },
    )
    report_params = [
        {"name": name, "in": "query", "schema": {"type": "string", **extra}}
        for name, extra in [
            ("from", {"format": "date"}),
            ("to", {"format": "date"}),
            ("tz", {}),
            ("department_id", {}),
            ("user_id", {}),
        ]
    ]
    kpis = {
        "type": "object",
        "properties": {
            "from": {"type": "string"},
            "to": {"type": "string"},
            "tz": {"type": "string"},
            "kpis": {"type": "object", "additionalProperties": {"type": "number"}},
            "fresh_as_of": {"type": "string", "nullable": True},
        },
    }
    spec.path(
        path="/api/v1/reports/kpis",
        operations={
            "get": {
                "tags": ["reports"],
                "parameters": report_params,
                "responses": {"200": {"description": "KPI counts", **_json(kpis)}, **ERRORS},
            }
        },
    )
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document
