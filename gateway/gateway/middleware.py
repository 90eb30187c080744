"""`EdgeMiddleware`: the gateway's HTTP middleware, around every `@api` route, hardened for the public.

Around the kernel's handling (problem documents, request ids): a rate limit per user (or per client
address without a valid token), a bound on every body before it is read (and no body read at all
for a caller without a valid token), `Idempotency-Key` on POST, CORS when configured, security headers.
"""

import hashlib
import logging
import re
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from datetime import datetime, timedelta

import eventlet
from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from crm_kernel.config import database_url, env
from crm_kernel.db import close_safely, get_engine, statement_by_statement, utcnow
from crm_kernel.errors import PayloadTooLarge, Unauthorized
from crm_kernel.http import bound_body, is_chunked, max_json_bytes, problem_response
from crm_kernel.idempotency import ENVIRON_KEY, call_key
from gateway.auth import bearer_token, secret_key, token_claims
from gateway.callers import client_address
from gateway.instances import INSTANCE_ID, heartbeat_stale, is_gone
from gateway.models import IdempotencyRecord
from gateway.routing import FORM_ALLOWANCE, V1, max_import_bytes, max_upload_bytes

log = logging.getLogger(__name__)
# What the gateway's own database raises when it is down or restarting: SQLAlchemy's errors, and the
# socket errors pg8000 lets through unwrapped (a connection reset while PostgreSQL restarts).
DATABASE_ERRORS = (SQLAlchemyError, OSError)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")
NOT_KEPT = (401, 429)  # answers about the caller or the moment, not about the request
IMPORT = f"{V1}/contacts/import"
LOGIN = f"{V1}/auth/token"  # the one route that reads a body from a caller without a token
UPLOADS = re.compile(rf"^{V1}/documents(/[^/]+/versions)?$")
# POST routes whose one write is an `@idempotent` service method: the service records the caller's key
# in the write's own commit, so a retry that runs while a dead gateway's attempt is still in flight
# gets the first answer, not a second write. Only their records are taken over when the owner dies;
# the others (merges, transitions, comments, imports, the gateway's own writes) wait for the lease.
GUARDED_WRITES = re.compile(
    rf"^{V1}/(contacts|interactions|tickets|deals|tasks|documents|documents/generate|documents/[^/]+/versions)$"
)


def body_limit(request) -> int:
    """The largest body the route of `request` reads: an upload's or an import's own, else JSON's."""
    if request.path == IMPORT:
        return max_import_bytes()
    if UPLOADS.match(request.path):
        return max_upload_bytes() + FORM_ALLOWANCE
    return max_json_bytes()


def has_body(request) -> bool:
    return (request.content_length or 0) > 0 or is_chunked(request)


def idempotency_lease() -> timedelta:
    """How long an unfinished request holds its key; a retry after that runs the request again."""
    return timedelta(seconds=float(env("CRM_IDEMPOTENCY_LEASE_SECONDS", "30")))


def idempotency_wait() -> float:
    """How long a retry that finds its key held waits for the holder to finish (or to be found dead
    and taken over) before answering 409 "in progress"; longer than a dead gateway takes to be found
    (`CRM_GATEWAY_HEARTBEAT_STALE_SECONDS` and a beat), so a retry after a gateway was killed is served."""
    return float(env("CRM_IDEMPOTENCY_WAIT_SECONDS", "5"))


WAIT_STEP = 0.25  # seconds between two looks at a held key


def idempotency_ttl() -> timedelta:
    """How long a finished request's response is replayed; older records are purged."""
    return timedelta(seconds=float(env("CRM_IDEMPOTENCY_TTL_SECONDS", str(24 * 3600))))


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


def fingerprint(request) -> str:
    """What makes a retry the same request: method, path and query, and the JSON body.

    Uploads (documents, CSV imports) are streamed, never held whole in memory, so for any body that
    is not JSON only its length and content type count.
    """
    digest = hashlib.sha256(f"{request.method} {request.full_path}\n".encode())
    if request.mimetype != "application/json":
        digest.update(f"{request.content_length} {request.mimetype}".encode())
    else:
        digest.update(request.get_data(cache=True))  # bounded by `bound_body` before
    return digest.hexdigest()


def lease_over(session: Session, record: IdempotencyRecord, now: datetime, guarded: bool) -> bool:
    """Whether the unfinished `record` may be taken over: its lease has ended, or (on a guarded route)
    its owner is dead and it was claimed at least a heartbeat's staleness ago (an owner that claimed
    before its first beat is not taken for dead)."""
    if record.created_at <= now - idempotency_lease():
        return True
    return guarded and record.created_at <= now - heartbeat_stale() and is_gone(session, record.owner, now)


def claim(
    session: Session, caller: str, key: str, print_: str, now: datetime, owner: str = INSTANCE_ID, guarded: bool = False
) -> IdempotencyRecord | None:
    """None when this request may run under the key (a new key, an expired lease or a dead owner's
    guarded request, an expired record), claimed for it by `owner` as of `now`; else the record to
    answer from."""
    record = None
    for _ in range(2):  # a key freed between the two statements is claimed on the second try
        if claimed_new(
            session, {"caller": caller, "key": key, "fingerprint": print_, "created_at": now, "owner": owner}
        ):
            return None
        record = session.get(IdempotencyRecord, (caller, key))
        if record is not None:
            break
    if record is None:
        # As the insert's failure was before: a 503, and the client's retry finds the key settled.
        raise SQLAlchemyError("an idempotency key was claimed and freed twice while this request claimed it")
    expired = record.created_at <= now - idempotency_ttl()
    unfinished = record.status is None and record.fingerprint == print_
    if not (expired or (unfinished and lease_over(session, record, now, guarded))):
        return record
    taken = session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.caller == caller,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at == record.created_at,
        )
        .values(created_at=now, fingerprint=print_, status=None, headers={}, body=None, owner=owner)
    ).rowcount
    session.commit()
    if taken:
        return None
    session.expire_all()  # another retry took it first: answer from theirs
    return session.get(IdempotencyRecord, (caller, key))


def kept_answer(response: Response) -> dict | None:
    """What of `response` every retry gets again; None when it is no answer to keep: a 5xx, a 401 (a
    revoked token: the user logs in again and retries), a 429 or a stream, so the key is freed for a
    retry to run again."""
    if response.status_code >= 500 or response.status_code in NOT_KEPT or response.is_streamed:
        return None
    headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
    return {"status": response.status_code, "headers": headers, "body": response.get_data(as_text=True)}


def claimed_new(session: Session, values: dict) -> bool:
    """Whether the key of `values` was new and is now claimed with them: one statement that commits on
    its own (one round trip on PostgreSQL, where a read, an insert and a commit took four)."""
    table = IdempotencyRecord.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    with statement_by_statement(session):
        claimed = session.execute(insert(table).values(headers={}, **values).on_conflict_do_nothing()).rowcount
        session.commit()
    return claimed == 1


def finish(session: Session, caller: str, key: str, claimed_at: datetime, kept: dict | None) -> None:
    """Store `kept` (`kept_answer`) as the answer under the key, or free the key when there is none.
    Nothing changes when another retry took the lease meanwhile. One statement, committed on its own."""
    mine = (
        IdempotencyRecord.caller == caller,
        IdempotencyRecord.key == key,
        IdempotencyRecord.created_at == claimed_at,
    )
    with statement_by_statement(session):
        if kept is None:
            session.execute(delete(IdempotencyRecord).where(*mine))
        else:
            session.execute(update(IdempotencyRecord).where(*mine).values(**kept))
        session.commit()


def purge(session: Session, now: datetime) -> int:
    """Forget idempotency records older than their time to live; the number forgotten."""
    done = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - idempotency_ttl()))
    return done.rowcount


def _unread(response: Response) -> Response:
    """The connection closes after `response`, so the server never drains a body nobody read."""
    response.headers["Connection"] = "close"
    return response


def _database_down(exc: Exception) -> Response:
    log.warning("idempotency records unavailable: %s", type(exc).__name__)
    return problem_response(
        503, "Service unavailable", "the gateway's database is not reachable; retry", headers={"Retry-After": "5"}
    )


class EdgeMiddleware:
    """The gateway's `http_middleware`: rate limits, body bounds, no body read without a valid token,
    idempotency keys, security and CORS headers."""

    def __init__(self, instance: str = INSTANCE_ID):
        self.instance = instance  # this gateway process, the owner of the records it claims
        self.pause = eventlet.sleep  # how a retry waits for a held key (green: other requests go on)
        # Answers not stored because the database was away: (caller, key, claimed_at, kept). Bounded:
        # past it, the oldest keys wait for their lease instead.
        self.unfinished: deque = deque(maxlen=10_000)
        self._sessions = None
        self._key = None
        self.buckets = TokenBuckets(
            rate_per_minute=int(env("CRM_RATE_LIMIT_PER_MINUTE", "600")),
            burst=int(env("CRM_RATE_LIMIT_BURST", "100")),
        )

    def __call__(self, request, serve):
        if request.method == "OPTIONS":
            return self._with_headers(request, Response(status=204))
        user_id, refusal = self.authenticated(request)
        # A user's budget follows them across tokens; without a valid token, the client's address pays.
        caller = f"u:{user_id}" if user_id else f"a:{client_address(request)}"
        response = self._bounded(request, caller, user_id, refusal, serve)
        return self._with_headers(request, response)

    def _bounded(self, request, caller: str, user_id: str | None, refusal: str, serve) -> Response:
        wait = self.buckets.take(caller)
        if wait:
            response = problem_response(
                429, "Too many requests", "slow down", headers={"Retry-After": str(int(wait) + 1)}
            )
            return _unread(response) if has_body(request) else response
        if has_body(request) and user_id is None and request.path != LOGIN:
            return _unread(problem_response(401, "Unauthorized", refusal))
        try:
            # An import's chunked body may be read one byte past its limit: the route forwards that byte
            # to the contacts service, which refuses the import on it and undoes what was written.
            bound_body(request, body_limit(request), slack=1 if request.path == IMPORT else 0)
        except PayloadTooLarge as exc:
            return _unread(problem_response(413, exc.title, exc.detail))
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key and request.path != LOGIN:  # bearer tokens are never stored
            return self._idempotent(request, caller, key, serve)
        return serve(request)

    def authenticated(self, request) -> tuple[str | None, str]:
        """The user a valid, unexpired token names (None without one), and else why not.

        Only the signature and the expiry: the route checks revocation and roles as it always did.
        """
        token = bearer_token(request)
        if token is None:
            return None, "send `Authorization: Bearer <token>`; get a token at POST /api/v1/auth/token"
        if self._key is None:
            self._key = secret_key()
        try:
            return str(token_claims(token, self._key)["sub"]), ""
        except Unauthorized as exc:
            return None, exc.detail

    def sessions(self):
        """Sessions on the gateway's database, made once (the URL is read from the environment then)."""
        if self._sessions is None:
            self._sessions = sessionmaker(get_engine(database_url("gateway")))
        return self._sessions

    @contextmanager
    def _session(self):
        """A session on the gateway's database whose close never raises (a dropped connection is
        discarded, not leaked from the pool)."""
        session = self.sessions()()
        try:
            yield session
        finally:
            close_safely(session)

    def _idempotent(self, request, caller: str, key: str, serve) -> Response:
        """The first response for (caller, key) is stored and returned to every retry."""
        if len(key) > 200 or not key.isprintable():
            return problem_response(400, "Bad request", "Idempotency-Key: at most 200 printable characters")
        try:
            print_ = fingerprint(request)
        except (PayloadTooLarge, RequestEntityTooLarge):
            return _unread(problem_response(413, "Payload too large", "the request body is larger than allowed"))
        guarded = GUARDED_WRITES.match(request.path) is not None
        waited_until = time.monotonic() + idempotency_wait()
        while True:
            claimed_at = utcnow()
            try:
                with self._session() as session:
                    record = claim(session, caller, key, print_, claimed_at, self.instance, guarded)
            except DATABASE_ERRORS as exc:
                return _database_down(exc)
            if record is None:
                break  # claimed: this request runs
            held = record.status is None and record.fingerprint == print_
            if not held or time.monotonic() >= waited_until:
                return self._replay(record, print_)
            self.pause(WAIT_STEP)  # the holder may finish meanwhile, or be found dead and taken over
        request.environ[ENVIRON_KEY] = call_key(caller, key)  # to the service: recorded with its write
        response = serve(request)
        kept = kept_answer(response)
        try:
            with self._session() as session:
                finish(session, caller, key, claimed_at, kept)
        except DATABASE_ERRORS as exc:
            # The request did happen: answer it. Its answer is stored once the database is back
            # (`store_unfinished`, after a heartbeat), or else its key is freed when the lease ends.
            log.warning("idempotency record not finished: %s", type(exc).__name__)
            self.unfinished.append((caller, key, claimed_at, kept))
        return response

    def store_unfinished(self, session: Session) -> int:
        """Store the answers whose storing failed (the database was away), oldest first; the number
        stored. One that fails again stays for the next call."""
        stored = 0
        while self.unfinished:
            finish(session, *self.unfinished[0])
            self.unfinished.popleft()
            stored += 1
        return stored

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
