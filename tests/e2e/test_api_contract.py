"""The OpenAPI document is valid, and the API keeps its contract under generated input."""

import schemathesis
from e2e_helpers import V1
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

# Routes that change the rules for every other test of the shared system stay out: who may call
# (logout; password guessing throttles the address) and configuration (required custom fields,
# SLA policies, plans). Their own tests cover their input handling.
EXCLUDED = r"^/api/v1/(auth/|contact-fields|sla-policies|plans)"


def test_the_openapi_document_is_valid_openapi(system):
    validate(system.http.get(system.url(f"{V1}/openapi.json")).json())


def test_no_input_makes_the_api_fail_and_every_error_is_a_problem(system):
    headers = {"Authorization": f"Bearer {system.token()}"}
    schema = schemathesis.openapi.from_url(system.url(f"{V1}/openapi.json")).exclude(path_regex=EXCLUDED)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_its_contract(case):
            response = case.call(base_url=system.base_url, headers=headers, timeout=30)
            where = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type", [None])[0]
                assert content_type == "application/problem+json", (
                    f"{where} -> {response.status_code}: {response.text[:300]}"
                )
                problem = response.json()
                assert problem["status"] == response.status_code and problem["title"]

        keeps_its_contract()
