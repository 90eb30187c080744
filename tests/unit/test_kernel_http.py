"""The kernel's HTTP entrypoint in a running container: results, problem documents, request ids."""

import socket
from unittest.mock import Mock

import pytest
import requests
from nameko import config
from nameko.constants import WEB_SERVER_CONFIG_KEY
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from crm_kernel.context import RequestContext
from crm_kernel.errors import NotFound, ServiceUnavailable
from crm_kernel.http import ApiServer, api, route


class Echo:
    name = "echo"
    context = RequestContext()

    @api("GET", "/things/<thing_id>")
    def get_thing(self, request, thing_id):
        if thing_id == "missing":
            raise NotFound("no such thing")
        return {"id": thing_id, "request_id": self.context.request_id}

    @api("POST", "/things")
    def create_thing(self, request):
        return 201, {"id": "t1"}, {"Location": "/things/t1"}

    @api("GET", "/busy")
    def busy(self, request):
        raise ServiceUnavailable("the contacts service is busy")

    @api("GET", "/database")
    def database(self, request):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @api("GET", "/broken")
    def broken(self, request):
        raise ValueError("a bug")

    @route("GET", "/plain")
    def plain(self, request):
        return Response("plain", mimetype="text/plain")


class Wrapped(Echo):
    name = "wrapped"

    @staticmethod
    def http_middleware(request, serve):
        if request.headers.get("X-Refuse"):
            return Response("refused", status=418)
        response = serve(request)
        response.headers["X-Wrapped"] = "yes"
        return response


class Client:
    def __init__(self, base: str):
        self.base = base

    def get(self, path: str, headers: dict | None = None) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=headers, timeout=10)

    def post(self, path: str, headers: dict | None = None) -> requests.Response:
        return requests.post(f"{self.base}{path}", headers=headers, timeout=10)


@pytest.fixture
def serve(container_factory, web_config):
    """`serve(Service)`: a client of `Service` running in a container of its own."""

    def start(service_cls) -> Client:
        container_factory(service_cls).start()
        return Client(f"http://{config[WEB_SERVER_CONFIG_KEY]}")

    return start


def test_a_result_is_json_and_a_tuple_sets_status_and_headers(serve):
    client = serve(Echo)

    read = client.get("/things/t1")
    created = client.post("/things")

    assert read.status_code == 200 and read.headers["Content-Type"] == "application/json"
    assert read.json()["id"] == "t1"
    assert created.status_code == 201 and created.headers["Location"] == "/things/t1"


def test_the_callers_request_id_reaches_the_worker_and_comes_back(serve):
    client = serve(Echo)

    response = client.get("/things/t1", headers={"X-Request-Id": "trace-me"})

    assert response.json()["request_id"] == "trace-me"
    assert response.headers["X-Request-Id"] == "trace-me"


def test_without_a_usable_request_id_the_worker_and_the_response_share_a_new_one(serve):
    client = serve(Echo)

    response = client.get("/things/t1", headers={"X-Request-Id": "x" * 65})

    assert response.json()["request_id"] == response.headers["X-Request-Id"] != "x" * 65


def test_a_crm_error_is_its_problem_document(serve):
    client = serve(Echo)

    response = client.get("/things/missing")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no such thing"}
    assert response.headers["X-Request-Id"]


def test_an_unavailable_service_is_a_503_with_its_retry_after(serve):
    client = serve(Echo)

    response = client.get("/busy")

    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["detail"] == "the contacts service is busy"


def test_a_database_that_went_away_is_a_retryable_503(serve):
    client = serve(Echo)

    response = client.get("/database")

    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_bug_is_a_500_problem_without_its_trace(serve):
    client = serve(Echo)

    response = client.get("/broken")

    assert response.status_code == 500
    assert response.json()["title"] == "Internal error" and "a bug" not in response.text


def test_the_middleware_wraps_api_routes_and_may_answer_alone(serve):
    client = serve(Wrapped)

    served = client.get("/things/t1")
    refused = client.get("/things/t1", headers={"X-Refuse": "1"})

    assert served.headers["X-Wrapped"] == "yes" and served.headers["X-Request-Id"]
    assert refused.status_code == 418 and "X-Wrapped" not in refused.headers


def test_a_plain_route_shares_the_server_and_skips_the_middleware(serve):
    client = serve(Wrapped)

    response = client.get("/plain", headers={"X-Refuse": "1"})

    assert response.status_code == 200 and response.text == "plain"
    assert "X-Wrapped" not in response.headers


def test_the_api_server_sends_each_write_of_a_connection_at_once():
    """A response over the 16 KiB write buffer leaves as headers then body: with Nagle's algorithm the
    body would wait for the client's delayed acknowledgement of the headers."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    server = ApiServer()
    server._serv = Mock()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0

        server.process_request(accepted, address)

        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        server._serv.process_request.assert_called_once()
    finally:
        for sock in (client, accepted, listener):
            sock.close()
