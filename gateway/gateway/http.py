"""The gateway's HTTP middleware: every `@api` route, hardened for the public.

Around the kernel's handling (problem documents, request ids): a rate limit per token (or per
address without one), `Idempotency-Key` on POST, CORS when configured, security headers.
"""

import hashlib
import time
from collections import OrderedDict

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from werkzeug.wrappers import Response

from crm_kernel.config import database_url, env
from crm_kernel.db import get_engine
from crm_kernel.http import problem_response
from crm_kernel.idempotency import ENVIRON_KEY, call_key
from gateway.auth import bearer_token
from gateway.models import IdempotencyRecord

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


class TokenBuckets:
    """A token bucket per caller: `rate` requests a minute on average, bursts up to `burst`.

    In process memory: each gateway replica limits on its own, so a cluster allows replicas x rate.
    """

    def __init__(self, rate_per_minute: int, burst: int, max_callers: int = 100_000):
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self.max_callers = max_callers
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.pop(caller, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self.buckets[caller] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self.buckets) > self.max_callers:
            self.buckets.popitem(last=False)
        return wait


def caller_of(request) -> str:
    """Who the request counts against: its token (hashed), else its address."""
    token = bearer_token(request)
    return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32] if token else f"a:{request.remote_addr}"


def fingerprint(request) -> str:
    """What makes a retry the same request: method, path and query, and the JSON body.

    Uploads (documents, CSV imports) are streamed, never held whole in memory, so for any body that
    is not JSON only its length and content type count.
    """
    digest = hashlib.sha256(f"{request.method} {request.full_path}\n".encode())
    if request.mimetype != "application/json":
        digest.update(f"{request.content_length} {request.mimetype}".encode())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


class PublicApi:
    """`http_middleware` of the gateway."""

    def __init__(self):
        self._sessions = None
        self.buckets = TokenBuckets(
            rate_per_minute=int(env("CRM_RATE_LIMIT_PER_MINUTE", "600")),
            burst=int(env("CRM_RATE_LIMIT_BURST", "100")),
        )

    def __call__(self, request, serve):
        if request.method == "OPTIONS":
            return self._with_headers(request, Response(status=204))
        wait = self.buckets.take(caller_of(request))
        if wait:
            response = problem_response(
                429, "Too many requests", "slow down", headers={"Retry-After": str(int(wait) + 1)}
            )
        elif request.method == "POST" and request.headers.get("Idempotency-Key"):
            response = self._idempotent(request, request.headers["Idempotency-Key"], serve)
        else:
            response = serve(request)
        return self._with_headers(request, response)

    def sessions(self):
        """Sessions on the gateway's database, made once (the URL is read from the environment then)."""
        if self._sessions is None:
            self._sessions = sessionmaker(get_engine(database_url("gateway")))
        return self._sessions

    def _idempotent(self, request, key: str, serve) -> Response:
        """The first response for (caller, key) is stored and returned to every retry."""
        if len(key) > 200 or not key.isprintable():
            return problem_response(400, "Bad request", "Idempotency-Key: at most 200 printable characters")
        caller, print_ = caller_of(request), fingerprint(request)
        Session = self.sessions()
        with Session() as session:
            record = session.get(IdempotencyRecord, (caller, key))
            if record is None:
                try:
                    session.add(IdempotencyRecord(caller=caller, key=key, fingerprint=print_))
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    record = session.get(IdempotencyRecord, (caller, key))
            if record is not None:
                return self._replay(record, print_)
        request.environ[ENVIRON_KEY] = call_key(caller, key)  # to the service: recorded with its write
        response = serve(request)
        with Session() as session:
            record = session.get(IdempotencyRecord, (caller, key))
            if response.status_code >= 500 or response.is_streamed:
                session.delete(record)  # not an answer to keep: let a retry run again
            else:
                record.status = response.status_code
                record.headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
                record.body = response.get_data(as_text=True)
            session.commit()
        return response

    @staticmethod
    def _replay(record: IdempotencyRecord, print_: str) -> Response:
        if record.fingerprint != print_:
            return problem_response(
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request",
                {"Idempotency-Key": ["used before with another method, path or body"]},
            )
        if record.status is None:
            return problem_response(
                409, "Conflict", "a request with this Idempotency-Key is in progress", headers={"Retry-After": "1"}
            )
        return Response(record.body, status=record.status, headers={**record.headers, "Idempotent-Replayed": "true"})

    @staticmethod
    def _with_headers(request, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        origins = [o.strip() for o in env("CRM_CORS_ORIGINS", "").split(",") if o.strip()]
        origin = request.headers.get("Origin")
        if origin and (origin in origins or "*" in origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match, Idempotency-Key"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE"
            response.headers["Access-Control-Expose-Headers"] = (
                "ETag, Location, X-Request-Id, Retry-After, X-Possible-Duplicates, Link"
            )
        return response
