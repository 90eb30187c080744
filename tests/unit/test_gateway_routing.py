"""A problem document from a service's internal HTTP reaches the client as the service wrote it,
`Retry-After` included, so that a retryable answer stays retryable through the gateway."""

import json

import pytest
import requests

from crm_kernel.http import ApiHandler
from gateway.routing import PassThroughProblem


def upstream(status: int, body: dict, **headers) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, json.dumps(body).encode()
    response.headers.update({"Content-Type": "application/problem+json", **headers})
    return response


@pytest.mark.parametrize(("status", "retry_after"), [(409, "7"), (503, "5")])
def test_a_retryable_problem_keeps_its_status_detail_and_retry_after(status, retry_after):
    problem = {"title": "Conflict", "status": status, "detail": "import 1 is being undone; retry"}

    passed = PassThroughProblem(upstream(status, problem, **{"Retry-After": retry_after}))
    response = ApiHandler("POST", "/x").response_from_exception(passed)

    assert response.status_code == status
    assert response.headers["Retry-After"] == retry_after
    assert json.loads(response.get_data())["detail"] == problem["detail"]


def test_a_problem_without_retry_after_gets_none():
    passed = PassThroughProblem(upstream(409, {"title": "Conflict", "detail": "undone already"}))

    assert "Retry-After" not in ApiHandler("POST", "/x").response_from_exception(passed).headers
