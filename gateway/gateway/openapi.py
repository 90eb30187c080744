"""`GET /api/v1/openapi.json`: the contract, built from the services' published contracts.

Each route module describes its own paths in a `describe(spec)` static method, next to the routes
themselves; the schemas of the services' resources come from `contracts/<service>.json` (written by
`python -m crm_kernel.contracts <service>` from the schemas that validate), never from their code.
This module holds the shared pieces and puts the document together.

`python -m gateway.openapi` writes the document to `contracts/openapi.json`, the committed snapshot a
unit test compares the live document with.
"""

import copy
import json
import sys
from functools import cache

from apispec import APISpec

from crm_kernel import contracts
from crm_kernel.schemas import TIME_ZONE_COMPONENT, TimeZone

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
CURSOR = "opaque: the next_cursor of the page before, as it was given (anything else is refused)"
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "description": CURSOR, "schema": {"type": "string"}},
    {"name": "sort", "in": "query", "schema": {"type": "string"}},
]
REF_PREFIX = "#/components/schemas/"
SNAPSHOT = contracts.CONTRACTS_DIR / "openapi.json"


@cache
def _contract(service: str) -> dict:
    return contracts.read(service)


def contract_value(service: str, name: str):
    """A named value (an enum, the sort columns, a pattern) of `service`'s contract."""
    return _contract(service)["values"][name]


class Spec(APISpec):
    """The document being built: apispec's, plus the schemas of the services' contracts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.published: dict[tuple[str, str], str] = {}  # (service, schema class) -> component name

    def contract_schema(self, service: str, class_name: str) -> dict:
        """A copy of the schema object of `class_name` in `service`'s contract; the schemas it nests
        are components under the name they have in this document (by default their class name
        without `Schema`)."""
        schema = copy.deepcopy(_contract(service)["schemas"][class_name])
        self._name_nested(service, schema)
        return schema

    def publish(self, name: str, service: str, class_name: str) -> None:
        """Make `class_name` of `service`'s contract the component `name` (a component several
        contracts share, such as the kernel's `TimeZone`, once)."""
        self.published[(service, class_name)] = name
        schema = self.contract_schema(service, class_name)
        if self.components.schemas.get(name) != schema:
            self.components.schema(name, schema)

    def _name_nested(self, service: str, node) -> None:
        if isinstance(node, list):
            for item in node:
                self._name_nested(service, item)
        elif isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith(REF_PREFIX):
                class_name = target.removeprefix(REF_PREFIX)
                if (service, class_name) not in self.published:
                    self.publish(class_name.removesuffix("Schema"), service, class_name)
                node["$ref"] = REF_PREFIX + self.published[(service, class_name)]
            for value in node.values():
                self._name_nested(service, value)


def ref(name: str) -> dict:
    return {"$ref": f"{REF_PREFIX}{name}"}


def json_content(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def request_body(schema: dict) -> dict:
    """A JSON request body: required, since every route that takes one refuses a request without it."""
    return {"required": True, **json_content(schema)}


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


def own_schema(schema_cls) -> dict:
    """The schema object of one of the gateway's own marshmallow schemas, described as the services'
    contracts describe theirs."""
    return contracts.schema_objects([schema_cls])[schema_cls.__name__]


def query_parameters(schema: dict, sorts: tuple = ()) -> list[dict]:
    """The query parameters of a list, from the schema object of the query schema that validates
    them (enums, formats, ranges and lengths as the service enforces them), `sort` limited to `sorts`
    (either direction)."""
    required = set(schema.get("required", ()))
    parameters = []
    for name, described in schema["properties"].items():
        if described.get("readOnly"):
            continue
        described = copy.deepcopy(described)
        parameter = {"in": "query", "name": name}
        for moved in ("description", "deprecated"):
            if moved in described:
                parameter[moved] = described.pop(moved)
        parameter["schema"] = described
        parameter["required"] = name in required
        described.pop("nullable", None)  # a query parameter is absent, never null
        if described.get("default") is None:
            described.pop("default", None)
        if "enum" in described:
            described["enum"] = [value for value in described["enum"] if value is not None]
        if name == "cursor":
            parameter["description"] = CURSOR
        if name == "sort" and sorts:
            described["enum"] = [f"{direction}{column}" for column in sorts for direction in ("", "-")]
        parameters.append(parameter)
    return parameters


# The rule every create and change is checked for: no OpenAPI keyword says "names an existing record".
RECORDS = "each *_id names a record that exists and that you may see"


def references(schema: dict) -> list[str]:
    """The ids a client sends in a body of `schema`: each must name a record, which no keyword can say."""
    properties = schema.get("properties", {})
    return sorted(key for key, stated in properties.items() if key.endswith("_id") and not stated.get("readOnly"))


def checked_beyond(spec: APISpec, name: str, rules=()) -> dict:
    """The description of a create or change of the component `name`: the ids it names exist, and `rules`."""
    ids = references(spec.components.schemas.get(name, {}))
    if ids:
        named = "names a record" if len(ids) == 1 else "name records"
        rules = (f"{', '.join(ids)} {named} that exist{'s' if len(ids) == 1 else ''} and that you may see", *rules)
    return {"description": beyond_schema(*rules)} if rules else {}


def beyond_schema(*rules: str) -> str:
    """An operation's description of the rules its schemas cannot state (OpenAPI 3.0 has no keyword
    for "names an existing record" or for one value against another)."""
    return "Checked beyond the schema: " + "; ".join(rules) + "."


def crud(
    spec: APISpec, path: str, name: str, tag: str, *, update=True, delete=True, query=None, sorts=(), rules=()
) -> None:
    """The five CRUD operations of a resource; `query` (a schema object) describes the list's
    parameters as the service validates them, else they are the page's. A create or a change is
    described with what it is checked for beyond its schema: the ids it names exist (`references`),
    and `rules`."""
    item = f"{path}/{{id}}"
    list_params = query_parameters(query, sorts) if query is not None else PAGE_PARAMS
    described = checked_beyond(spec, name, rules)
    spec.path(
        path=path,
        operations={
            "post": {
                "tags": [tag],
                **described,
                "requestBody": request_body(ref(name)),
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
            "parameters": ID_PARAM,
            "responses": {"200": {"description": "With ETag", **json_content(ref(name))}, **ERRORS},
        }
    }
    if update:
        if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
        operations["patch"] = {
            "tags": [tag],
            **described,
            "parameters": [*ID_PARAM, if_match],
            "requestBody": request_body(ref(name)),
            "responses": {"200": {"description": "Changed", **json_content(ref(name))}, **ERRORS},
        }
    if delete:
        operations["delete"] = {
            "tags": [tag],
            "parameters": ID_PARAM,
            "responses": {"204": {"description": "Deleted"}, **ERRORS},
        }
    spec.path(path=item, operations=operations)


def action(
    spec, path: str, tag: str, summary: str, body: dict | None, response: dict, status: str = "200", rules=()
) -> None:
    """Describe one POST on an item (a transition, a comment, ...); `rules` as for `crud`."""
    operation = {
        "tags": [tag],
        "summary": summary,
        **({"description": beyond_schema(*rules)} if rules else {}),
        "parameters": ID_PARAM,
        "responses": {status: {"description": summary, **json_content(response)}, **ERRORS},
    }
    if body is not None:
        operation["requestBody"] = request_body(body)
    spec.path(path=path, operations={"post": operation})


def read_only(spec, path: str, tag: str, summary: str, response: dict, parameters=ID_PARAM) -> None:
    """Describe one GET."""
    operation = {"tags": [tag], "summary": summary, "parameters": parameters}
    operation["responses"] = {"200": {"description": summary, **json_content(response)}, **ERRORS}
    spec.path(path=path, operations={"get": operation})


def openapi_document(route_groups) -> dict:
    """The document for the `describe(spec)` of each of `route_groups`, in that order."""
    spec = Spec(
        title="CRM platform API",
        version="1.0.0",
        openapi_version="3.0.3",
        info={
            "description": "Contacts, interactions, documents and reports. Errors are application/problem+json. "
            "No text may hold a NUL character. What an operation is checked for beyond its schemas (records "
            "that must exist, one value against another) is in its description."
        },
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Problem", PROBLEM)
    spec.components.schema(TimeZone.component, copy.deepcopy(TIME_ZONE_COMPONENT))  # the gateway's own use it too
    for group in route_groups:
        group.describe(spec)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def snapshot_text(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    from gateway.service import openapi  # the service's routes import this module

    SNAPSHOT.write_text(snapshot_text(openapi()), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
