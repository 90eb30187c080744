"""The gateway builds its OpenAPI document from the contracts the services publish, never from their code.

Each `contracts/<service>.json` is what the service's schemas generate now, and the document the
gateway serves is the committed snapshot `contracts/openapi.json`: a change to either is deliberate.
"""

import json

import pytest
from marshmallow import ValidationError
from openapi_spec_validator import validate

from crm_kernel import contracts
from crm_kernel.schemas import TIME_ZONES, valid_timezone
from gateway.openapi import SNAPSHOT, snapshot_text
from gateway.service import openapi

SERVICES = sorted(path.stem for path in contracts.CONTRACTS_DIR.glob("*.json") if path != SNAPSHOT)


def test_every_service_publishes_a_contract():
    assert SERVICES == ["contacts", "documents", "interactions", "reporting"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_committed_contract_is_what_the_services_schemas_generate(service):
    generated = contracts.dumps(contracts.generate(service))
    committed = contracts.path_of(service).read_text(encoding="utf-8")
    assert generated == committed, (
        f"contracts/{service}.json differs from {service}'s schemas: run `make contracts` "
        "and review the diff (the OpenAPI snapshot is regenerated too)"
    )


def test_the_served_document_is_the_committed_snapshot():
    document = openapi()
    assert json.loads(snapshot_text(document)) == json.loads(SNAPSHOT.read_text(encoding="utf-8")), (
        "the OpenAPI document changed: if that is intended, run `make contracts` "
        "(python -m gateway.openapi rewrites contracts/openapi.json) and review the diff"
    )


def test_the_snapshot_is_valid_openapi():
    validate(json.loads(SNAPSHOT.read_text(encoding="utf-8")))


def test_nested_schemas_are_components_named_in_the_document():
    schemas = openapi()["components"]["schemas"]
    assert schemas["Merge"]["properties"]["target"] == {"$ref": "#/components/schemas/Contact"}
    assert schemas["Interaction"]["properties"]["requirements"]["items"] == {"$ref": "#/components/schemas/Requirement"}
    assert "Requirement" in schemas and "ContactSchema" not in schemas


def refs(node) -> set[str]:
    """The names of the components `node` refers to."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set()


def ids_a_client_sends(document: dict):
    """(where, schema) of every id property of a request body's components (nested ones included) and
    of every id query parameter."""
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    sent = refs([operation.get("requestBody", {}) for operation in operations])
    while (nested := refs([document["components"]["schemas"][name] for name in sent]) - sent) != set():
        sent |= nested
    for name in sorted(sent):
        for key, described in document["components"]["schemas"][name].get("properties", {}).items():
            if (key == "id" or key.endswith("_id")) and not described.get("readOnly"):
                yield f"{name}.{key}", described
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query" and parameter["name"].endswith("_id"):
                    yield f"{method.upper()} {path} ?{parameter['name']}", parameter["schema"]


def test_every_id_a_client_sends_states_the_length_the_api_enforces():
    unbounded = [
        where
        for where, described in ids_a_client_sends(openapi())
        if described.get("maxLength", 10**6) > 32 and "pattern" not in described
    ]
    assert unbounded == []


def test_a_departments_working_hours_are_described_as_they_are_checked():
    hours = openapi()["components"]["schemas"]["Department"]["properties"]["working_hours"]
    interval = hours["properties"]["mon"]["items"]
    assert hours["additionalProperties"] is False and set(hours["properties"]) == {
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
    }
    assert (interval["minItems"], interval["maxItems"]) == (2, 2) and "pattern" in interval["items"]


def test_report_parameters_state_their_patterns():
    parameters = {p["name"]: p["schema"] for p in openapi()["paths"]["/api/v1/reports/kpis"]["get"]["parameters"]}
    assert parameters["kpi"]["pattern"].startswith("^(contacts_created|")
    assert parameters["from"]["pattern"] and parameters["user_id"]["maxLength"] == 32


def test_every_request_body_is_required():
    optional = [
        f"{method.upper()} {path}"
        for path, item in openapi()["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and operation["requestBody"].get("required") is not True
    ]
    assert optional == []


def time_zones_a_client_sends(document: dict):
    """(where, schema) of every time zone a request states: body properties and query parameters."""
    for name, described in document["components"]["schemas"].items():
        for key, stated in described.get("properties", {}).items():
            if key in ("timezone", "tz") and not stated.get("readOnly"):
                yield f"{name}.{key}", stated
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] in ("timezone", "tz"):
                    yield f"{method.upper()} {path} ?{parameter['name']}", parameter["schema"]


def test_every_time_zone_refers_to_one_component_listing_the_zones_the_api_accepts():
    document = openapi()
    stated = dict(time_zones_a_client_sends(document))
    assert {"Contact.timezone", "Department.timezone", "User.timezone", "GET /api/v1/reports/kpis ?tz"} <= set(stated)
    assert [where for where, schema in stated.items() if refs(schema) != {"TimeZone"}] == []
    listed = document["components"]["schemas"]["TimeZone"]["enum"]
    assert listed == list(TIME_ZONES) and {"Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"} <= set(listed)
    assert all(valid_timezone(name) for name in listed)


@pytest.mark.parametrize("name", ["posix/Europe/Berlin", "localtime", "Europe", "europe/berlin", "Mars/Olympus"])
def test_a_zone_the_document_does_not_list_is_refused(name):
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        valid_timezone(name)


def test_every_write_that_names_records_says_they_must_exist():
    """OpenAPI has no keyword for "names an existing record": the operation's description says it."""
    document = openapi()
    unsaid = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            named = refs(body)
            component = document["components"]["schemas"][named.pop()] if len(named) == 1 else body
            ids = [key for key, stated in component.get("properties", {}).items() if key.endswith("_id")]
            writable = [key for key in ids if not component["properties"][key].get("readOnly")]
            if writable and "exist" not in operation.get("description", ""):
                unsaid.append(f"{method.upper()} {path}")
    assert unsaid == []
    assert "contact_id" in document["paths"]["/api/v1/tasks"]["post"]["description"]
