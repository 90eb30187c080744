"""The HTTP entrypoint every JSON route uses: call context in, problem documents out.

It is the one place that maps errors to HTTP statuses (`application/problem+json`), so routes never
carry try/except ladders and a client never sees a stack trace.
"""

import io
import json
import logging
import socket
import unicodedata
from contextlib import suppress
from urllib.parse import quote

from nameko.exceptions import ContainerBeingKilled
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from sqlalchemy.exc import DBAPIError, DisconnectionError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from crm_kernel.config import env
from crm_kernel.context import REQUEST_ID
from crm_kernel.db import new_id
from crm_kernel.errors import BadRequest, CrmError, PayloadTooLarge, PreconditionFailed, is_transient_failure, problem
from crm_kernel.idempotency import ENVIRON_KEY, IDEMPOTENCY_KEY
from crm_kernel.metrics import HTTP_RESPONSES

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def problem_response(status: int, title: str, detail: str = "", errors: dict | None = None, headers=None) -> Response:
    return Response(
        json.dumps(problem(status, title, detail, errors)), status=status, headers=headers, mimetype=PROBLEM_JSON
    )


REQUEST_ID_KEY = "crm.request_id"  # where a request's id waits between the worker's context and the response


def request_id(request) -> str:
    """The caller's `X-Request-Id` when it is short and printable, else a new one; the same for one request."""
    if REQUEST_ID_KEY not in request.environ:
        given = request.headers.get("X-Request-Id", "")
        request.environ[REQUEST_ID_KEY] = given if 0 < len(given) <= 64 and given.isprintable() else new_id()
    return request.environ[REQUEST_ID_KEY]


def call_context(request) -> dict:
    """What the worker's RPC calls carry: the request id, and the idempotency key the gateway set."""
    context = {REQUEST_ID: request_id(request)}
    if request.environ.get(ENVIRON_KEY):
        context[IDEMPOTENCY_KEY] = request.environ[ENVIRON_KEY]
    return context


class ApiServer(WebServer):
    """Nameko's web server, whose hook for a worker's context data gives it the call context, and whose
    connections send each write at once (`TCP_NODELAY`).

    eventlet's server writes through a 16 KiB buffer: a response larger than that leaves in two writes,
    the headers and then the body, and with Nagle's algorithm on the body waited for the client to
    acknowledge the headers, which clients delay (40 ms on Linux). A page of 50 contacts is about 25 KiB:
    every list page waited so (BENCHMARKS.md, issue 17, the contacts list).
    """

    def context_data_from_headers(self, request):
        return call_context(request)

    def process_request(self, sock, address):
        with suppress(OSError):  # not a TCP socket: nothing to switch off
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(sock, address)


class Route(HttpRequestHandler):
    """Nameko's `@http` on the server every route of a process shares (`ApiServer`): health and metrics."""

    server = ApiServer()


class ApiHandler(Route):
    """`@api(method, url)`: a route returns a Response, a dict/list (200), or `(status, body[, headers])`.

    Nameko's request handling with its extension points filled in: the call context from
    `ApiServer`, results and errors (problem documents) through `response_from_result` and
    `response_from_exception`. A service class may set `http_middleware = callable(request, serve) ->
    Response` to wrap every one of its `@api` routes (the gateway uses it for rate limits,
    idempotency and headers).
    """

    def __init__(self, method, url, expected_exceptions=(CrmError,), **kwargs):
        # Errors a client may cause (bad input, not found, ...) are logged as warnings, not errors.
        super().__init__(method, url, expected_exceptions=expected_exceptions, **kwargs)

    def handle_request(self, request):
        request.shallow = False  # the middleware may read the body before Nameko's handling starts
        middleware = getattr(self.container.service_cls, "http_middleware", None)
        if middleware is not None:
            return middleware(request, self.serve)
        return self.serve(request)

    def serve(self, request):
        """Nameko's handling of `request`, the response labelled with the request id and counted."""
        response = super().handle_request(request)
        response.headers["X-Request-Id"] = request_id(request)
        HTTP_RESPONSES.labels(self.url, str(response.status_code)).inc()
        return response

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            status, body, *rest = result
            return json_response(body, status, rest[0] if rest else None)
        return json_response(result)

    def response_from_exception(self, exc):
        if isinstance(exc, CrmError):
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            return problem_response(exc.status, exc.title, exc.detail, exc.errors, headers)
        if is_transient_failure(type(exc).__name__, str(exc)):  # a database or connection pool down or busy
            log.warning("dependency unavailable in %s %s: %s", self.method, self.url, exc)
            return problem_response(
                503, "Service unavailable", "a dependency is unavailable; retry", headers={"Retry-After": "5"}
            )
        if isinstance(exc, ContainerBeingKilled):
            return problem_response(503, "Service unavailable", "shutting down; retry", headers={"Retry-After": "1"})
        if isinstance(exc, RequestEntityTooLarge):  # a read past the bound set by `bound_body`
            return problem_response(413, "Payload too large", "the request body is larger than this route accepts")
        if database_unavailable(exc):
            log.warning("database unavailable in %s %s: %s", self.method, self.url, type(exc).__name__)
            return problem_response(
                503, "Service unavailable", "the database is not reachable; retry", headers={"Retry-After": "5"}
            )
        log.error("unexpected error in %s %s", self.method, self.url, exc_info=exc)
        return problem_response(500, "Internal error", "an unexpected error occurred; it has been logged")


api = ApiHandler.decorator
route = Route.decorator


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is down or the connection broke (retryable), not a bad query."""
    if isinstance(exc, DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or type(exc).__name__ in ("OperationalError", "InterfaceError")
    )


def max_json_bytes() -> int:
    return int(env("CRM_MAX_BODY_BYTES", str(1024 * 1024)))


def is_chunked(request) -> bool:
    return request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()


class BoundedStream(io.RawIOBase):
    """A body that may not pass `limit` bytes: the read that would is a 413 (`PayloadTooLarge`).

    Not werkzeug's `LimitedStream` with `max_content_length`: on a chunked body that one stops
    silently at the limit, so a cut-off body would pass for a whole one.
    """

    def __init__(self, stream, limit: int, slack: int = 0):
        self._stream = stream
        self.limit = limit
        self.allowed = limit + slack  # what may be read before the 413 (which names `limit`)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(min(len(buffer), self.allowed - self.read_bytes + 1))
        self.read_bytes += len(data)
        if self.read_bytes > self.allowed:
            raise PayloadTooLarge(f"the request body is larger than the limit of {self.limit} bytes")
        buffer[: len(data)] = data
        return len(data)


def bound_body(request, limit: int, slack: int = 0) -> None:
    """Every later read of `request`'s body stops at `limit` bytes (413), a chunked one included; with
    `slack`, a chunked body may be read that many bytes further before the 413 (which names `limit`).

    A `Content-Length` over the limit is refused at once, before a byte is read. Call it before
    anything touches the body: werkzeug makes the request's stream once, on first use.
    """
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    if is_chunked(request):
        # eventlet decodes the chunks but does not say so (`wsgi.input_terminated`); we count them.
        request.environ["wsgi.input"] = BoundedStream(request.environ["wsgi.input"], limit, slack)
        request.environ["wsgi.input_terminated"] = True
    else:
        request.max_content_length = limit
    request.stream  # noqa: B018 - made now, so that a later `max_content_length` cannot cut it short


def json_body(request, max_bytes: int | None = None) -> dict:
    """The request's JSON object; 413 past `CRM_MAX_BODY_BYTES`, 400 when it is not JSON."""
    limit = max_bytes or max_json_bytes()
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes") from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def body_stream(request):
    """The request body as a file-like stream to read incrementally, chunked uploads included.

    werkzeug hides a chunked body (no Content-Length) unless the server sets `wsgi.input_terminated`;
    eventlet's server decodes the chunks but does not set it, so say it here. A bound set by
    `bound_body` holds for the stream (413 past it).
    """
    if is_chunked(request):
        request.environ["wsgi.input_terminated"] = True
    return request.stream


def printable_name(name: str) -> str:
    """`name` without control characters (CR, LF, NUL, ...), which no file name needs."""
    return "".join(ch for ch in name if unicodedata.category(ch) != "Cc")


def content_disposition(disposition: str, filename: str) -> str:
    """An RFC 6266 `Content-Disposition`: `filename*=UTF-8''...` carries the name percent-encoded
    (RFC 8187), and `filename="..."` an ASCII fallback for old clients, where quotes, backslashes, `%`
    and `;` become `_`. No name can add a parameter, split the header or fail to encode."""
    name = printable_name(filename) or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join("_" if ch in '"\\%;' else ch for ch in ascii_name).strip() or "download"
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def etag(entity: dict) -> str:
    return f'"{entity["version"]}"'


def expected_version(request) -> int | None:
    """The version an `If-Match` header asks for; None when absent or `*`."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):
        raise PreconditionFailed(f"If-Match {header!r} is not an ETag this API returned")
    return int(value)


def entity_response(entity: dict, status: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": etag(entity)}
    if location:
        headers["Location"] = location
    return json_response(entity, status, headers)


def query_args(request, *, lists: tuple = ()) -> dict:
    """Query parameters as a dict (those in `lists` as lists), for a service's query schema."""
    args = {key: request.args.get(key) for key in request.args}
    for key in lists:
        if key in request.args:
            args[key] = request.args.getlist(key)
    return args
