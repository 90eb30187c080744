"""What the gateway's routes share for the services' internal HTTP: a problem document reaches the
client as the service wrote it, `Retry-After` included, so that a retryable answer stays retryable;
a streamed body is sent on in pieces, up to a bound when there is one."""

import io
import json

import pytest
import requests

from crm_kernel.http import ApiHandler
from gateway.routing import PassThroughProblem, in_chunks


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


@pytest.mark.parametrize(("size", "up_to", "sent"), [(10, None, 10), (10, 4, 4), (10, 10, 10), (10, 25, 10), (0, 3, 0)])
def test_a_body_is_sent_on_in_pieces_up_to_its_bound(size, up_to, sent):
    pieces = list(in_chunks(io.BytesIO(b"x" * size), size=3, up_to=up_to))

    assert b"".join(pieces) == b"x" * sent
    assert all(0 < len(piece) <= 3 for piece in pieces)
