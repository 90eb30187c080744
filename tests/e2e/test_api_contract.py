"""The OpenAPI document is valid, and the API keeps its contract under generated input."""

import schemathesis
from e2e_helpers import V1
from generated_requests import seed_configuration, seed_records, send_generated
from openapi_spec_validator import validate

# Routes that change the rules for every other test of the shared system (logout; password guessing
# throttles the address; custom fields that become required, SLA policies, plans) run against a
# system of their own.
EXCLUDED = r"^/api/v1/(auth/|contact-fields|sla-policies|plans)"


def test_the_openapi_document_is_valid_openapi(system):
    validate(system.http.get(system.url(f"{V1}/openapi.json")).json())


def test_no_input_makes_the_api_fail_and_every_error_is_a_problem(system):
    schema = schemathesis.openapi.from_url(system.url(f"{V1}/openapi.json")).exclude(path_regex=EXCLUDED)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    keeps_its_contract(system, operations, seed_records(system.client(), system.url))


def test_the_configuration_and_auth_routes_keep_the_contract_in_a_system_of_their_own(system_of_its_own):
    system = system_of_its_own
    schema = schemathesis.openapi.from_url(system.url(f"{V1}/openapi.json")).include(path_regex=EXCLUDED)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {operation.path for operation in operations}
    assert {f"{V1}/auth/token", f"{V1}/plans", f"{V1}/sla-policies", f"{V1}/contact-fields"} <= paths
    seeded = seed_records(system.client(), system.url)
    seeded |= seed_configuration(system.client(), system.url, seeded["departments"])
    keeps_its_contract(system, [op for op in operations if op.path != f"{V1}/auth/logout"], seeded)
    keeps_its_contract(system, [op for op in operations if op.path == f"{V1}/auth/logout"], seeded)  # last: it revokes


def keeps_its_contract(system, operations, seeded: dict[str, str]) -> None:
    """Generated requests to each of `operations` (`{id}` naming a record of `seeded`): never a 5xx,
    every error a problem document."""

    def holds(case, response):
        where = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [None])[0]
            assert content_type == "application/problem+json", (
                f"{where} -> {response.status_code}: {response.text[:300]}"
            )
            problem = response.json()
            assert problem["status"] == response.status_code and problem["title"]

    headers = {"Authorization": f"Bearer {system.token()}"}
    for operation in operations:
        send_generated(system, headers, operation, 8, seeded, holds)
