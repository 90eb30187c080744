"""The gateway builds its OpenAPI document from the contracts the services publish, never from their code.

Each `contracts/<service>.json` is what the service's schemas generate now, and the document the
gateway serves is the committed snapshot `contracts/openapi.json`: a change to either is deliberate.
"""

import json

import pytest
from openapi_spec_validator import validate

from crm_kernel import contracts
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
