"""`GET /api/v1/openapi.json`: the contract, built from the same marshmallow schemas that validate.

Each route module of the gateway describes its own paths in a `describe(spec)` static method, next
to the routes themselves; this module holds the shared pieces and puts the document together.
"""

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

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
ID_PARAM = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "sort", "in": "query", "schema": {"type": "string"}},
]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def page_of(name: str) -> dict:
    return json_content(
        {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": ref(name)},
                "next_cursor": {"type": "string", "nullable": True},
            },
        }
    )


def query_parameters(spec: APISpec, schema, sorts: tuple = ()) -> list[dict]:
    """The query parameters of a list, from the marshmallow schema that validates them (enums, formats,
    ranges and lengths as the service enforces them), `sort` limited to `sorts` (either direction)."""
    (plugin,) = [p for p in spec.plugins if isinstance(p, MarshmallowPlugin)]
    parameters = plugin.converter.schema2parameters(schema, location="query")
    for parameter in parameters:
        described = parameter["schema"]
        described.pop("nullable", None)  # a query parameter is absent, never null
        if described.get("default") is None:
            described.pop("default", None)
        if "enum" in described:
            described["enum"] = [value for value in described["enum"] if value is not None]
        if parameter["name"] == "sort" and sorts:
            described["enum"] = [f"{direction}{name}" for name in sorts for direction in ("", "-")]
    return parameters


def crud(
    spec: APISpec, path: str, name: str, tag: str, *, update=True, delete=True, filters=(), query=None, sorts=()
) -> None:
    """The five CRUD operations of a resource; `query` (a marshmallow schema) describes the list's
    parameters as the service validates them, else `filters` are plain strings."""
    item = f"{path}/{{id}}"
    id_param = ID_PARAM
    if query is not None:
        list_params = query_parameters(spec, query, sorts)
    else:
        list_params = PAGE_PARAMS + [{"name": f, "in": "query", "schema": {"type": "string"}} for f in filters]
    spec.path(
        path=path,
        operations={
            "post": {
                "tags": [tag],
                "requestBody": json_content(ref(name)),
                "responses": {"201": {"description": "Created", **json_content(ref(name))}, **ERRORS},
            },
            "get": {
                "tags": [tag],
                "parameters": list_params,
                "responses": {"200": {"description": "A page", **page_of(name)}, **ERRORS},
            },
        },
    )
    operations = {
        "get": {
            "tags": [tag],
            "parameters": id_param,
            "responses": {"200": {"description": "With ETag", **json_content(ref(name))}, **ERRORS},
        }
    }
    if update:
        if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
        operations["patch"] = {
            "tags": [tag],
            "parameters": [*id_param, if_match],
            "requestBody": json_content(ref(name)),
            "responses": {"200": {"description": "Changed", **json_content(ref(name))}, **ERRORS},
        }
    if delete:
        operations["delete"] = {
            "tags": [tag],
            "parameters": id_param,
            "responses": {"204": {"description": "Deleted"}, **ERRORS},
        }
    spec.path(path=item, operations=operations)


def openapi_document(service_cls) -> dict:
    """The document for every `describe(spec)` found on the classes `service_cls` is made of."""
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
    for cls in reversed(service_cls.__mro__):
        if "describe" in vars(cls):
            cls.describe(spec)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document
