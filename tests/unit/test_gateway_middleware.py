"""The gateway's middleware as a client meets it: bodies bounded before they are read, budgets per user,
idempotency keys that are leases, and a database fault that is a retryable 503."""

import io
import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from crm_kernel.db import utcnow
from gateway.auth import issue_token
from gateway.instances import beat
from gateway.middleware import EdgeMiddleware, fingerprint, purge
from gateway.models import Base, IdempotencyRecord

KEY = "a-unit-test-signing-key-that-is-long-enough"
V1 = "/api/v1"


class Unreadable(io.RawIOBase):
    """A body nobody may read: the test fails if the middleware reads a byte of it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


class Endless(io.RawIOBase):
    """A body that never ends, counting what was read of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b" " * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setenv("CRM_SECRET_KEY", KEY)
    monkeypatch.setenv("CRM_RATE_LIMIT_PER_MINUTE", "600")
    monkeypatch.setenv("CRM_RATE_LIMIT_BURST", "100")
    monkeypatch.setenv("CRM_IDEMPOTENCY_WAIT_SECONDS", "0")  # a held key answers 409 at once, unless a test waits


def token_for(user_id: str, generation: int = 0) -> str:
    user = SimpleNamespace(id=user_id, role="admin", department_id=None, token_generation=generation)
    return issue_token(user, KEY)["access_token"]


def request(path=f"{V1}/contacts", method="POST", body=None, stream=None, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    builder = EnvironBuilder(
        method=method,
        path=path,
        data=body if stream is None else None,
        headers=headers,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    environ = builder.get_environ()
    if stream is not None:
        environ["wsgi.input"] = io.BufferedReader(stream)
        environ.pop("CONTENT_LENGTH", None)
        if "Content-Length" in headers:  # as the server saw it, whatever the body turns out to be
            environ["CONTENT_LENGTH"] = headers["Content-Length"]
    return Request(environ)


class Served:
    """The routes behind the middleware: counts the requests that reached them."""

    def __init__(self, status=201, read_body=True):
        self.calls = 0
        self.status = status
        self.read_body = read_body

    def __call__(self, request):
        self.calls += 1
        if self.read_body:
            request.get_data()
        return Response(json.dumps({"id": f"c{self.calls}"}), status=self.status, mimetype="application/json")


@pytest.fixture
def api(memory_engine):
    middleware = EdgeMiddleware(instance="this-gateway")
    middleware._sessions = sessionmaker(memory_engine(Base))
    return middleware


def test_an_unauthenticated_request_with_a_body_is_refused_without_reading_it(api):
    served = Served()
    response = api(request(stream=Unreadable(), **{"Content-Length": str(300 * 1024 * 1024)}), served)
    assert response.status_code == 401 and served.calls == 0
    assert response.headers["Connection"] == "close"  # the server does not drain it either


def test_a_forged_token_reads_no_body_either(api):
    forged = token_for("u1")[:-4] + "AAAA"
    response = api(request(stream=Unreadable(), token=forged, **{"Content-Length": "10"}), Served())
    assert response.status_code == 401 and response.json["detail"] == "the token is not valid"


def test_a_content_length_over_the_json_limit_is_a_413_before_a_byte_is_read(api):
    served = Served()
    headers = {"Content-Length": str(2 * 1024 * 1024), "Idempotency-Key": "k1"}
    response = api(request(stream=Unreadable(), token=token_for("u1"), **headers), served)
    assert response.status_code == 413 and served.calls == 0


def test_a_chunked_body_stops_at_the_limit_even_for_an_idempotent_request(api):
    endless = Endless()
    headers = {"Transfer-Encoding": "chunked", "Idempotency-Key": "k1"}
    response = api(request(stream=endless, token=token_for("u1"), **headers), Served())
    assert response.status_code == 413
    assert endless.read_bytes <= 2 * 1024 * 1024  # a bounded read, not the whole stream


def test_an_upload_route_has_its_own_limit(api, monkeypatch):
    monkeypatch.setenv("CRM_MAX_UPLOAD_BYTES", str(4 * 1024 * 1024))
    served = Served(read_body=False)
    headers = {"Content-Length": str(3 * 1024 * 1024), "Content-Type": "multipart/form-data; boundary=x"}
    within = api(request(f"{V1}/documents", stream=Unreadable(), token=token_for("u1"), **headers), served)
    assert within.status_code == 201 and served.calls == 1
    monkeypatch.setenv("CRM_MAX_UPLOAD_BYTES", "1000")
    refused = api(request(f"{V1}/documents", stream=Unreadable(), token=token_for("u1"), **headers), served)
    assert refused.status_code == 413 and served.calls == 1


def test_a_csv_import_has_its_own_limit(api, monkeypatch):
    monkeypatch.setenv("CRM_MAX_IMPORT_BYTES", str(4 * 1024 * 1024))
    served = Served(read_body=False)
    headers = {"Content-Length": str(3 * 1024 * 1024), "Content-Type": "text/csv"}
    within = api(request(f"{V1}/contacts/import", stream=Unreadable(), token=token_for("u1"), **headers), served)
    assert within.status_code == 201 and served.calls == 1  # past JSON's 1 MiB, within the import's
    monkeypatch.setenv("CRM_MAX_IMPORT_BYTES", "1000")
    refused = api(request(f"{V1}/contacts/import", stream=Unreadable(), token=token_for("u1"), **headers), served)
    assert refused.status_code == 413 and served.calls == 1


def test_a_login_reads_its_body_without_a_token(api):
    served = Served(status=200)
    response = api(request(f"{V1}/auth/token", body=b'{"email": "a@b.c", "password": "x"}'), served)
    assert response.status_code == 200 and served.calls == 1


def test_random_bearer_strings_all_count_against_the_clients_address(api):
    api.buckets.burst, api.buckets.rate = 3, 1 / 60
    statuses = [api(request(method="GET", token=uuid.uuid4().hex), Served(status=200)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_user_keeps_one_budget_across_fresh_tokens(api):
    api.buckets.burst, api.buckets.rate = 2, 1 / 60
    tokens = [token_for("u1", generation) for generation in range(3)]  # three logins, three tokens
    assert len(set(tokens)) == 3
    statuses = [api(request(method="GET", token=t), Served(status=200)).status_code for t in tokens]
    assert statuses == [200, 200, 429]
    assert api(request(method="GET", token=token_for("u2")), Served(status=200)).status_code == 200


def idempotent(api, served, key="k1", body=b'{"a": 1}', user="u1", path=f"{V1}/contacts"):
    return api(request(path, body=body, token=token_for(user), **{"Idempotency-Key": key}), served)


def test_a_retry_gets_the_first_response_and_runs_nothing_twice(api):
    served = Served()
    first, retry = idempotent(api, served), idempotent(api, served)
    assert first.status_code == retry.status_code == 201 and served.calls == 1
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.json == first.json


def test_an_unfinished_key_is_a_lease_that_a_retry_takes_over_once_it_expires(api):
    with api.sessions()() as session:  # a first attempt that never finished (its process died)
        session.add(IdempotencyRecord(caller="u:u1", key="k1", fingerprint=fingerprint_of(), created_at=utcnow()))
        session.commit()
    served = Served()
    assert idempotent(api, served).status_code == 409 and served.calls == 0
    age(api, timedelta(seconds=31))
    assert idempotent(api, served).status_code == 201 and served.calls == 1
    assert idempotent(api, served).headers["Idempotent-Replayed"] == "true" and served.calls == 1


def test_an_expired_lease_is_not_taken_by_a_different_request(api):
    with api.sessions()() as session:
        session.add(IdempotencyRecord(caller="u:u1", key="k1", fingerprint="other", created_at=utcnow()))
        session.commit()
    age(api, timedelta(seconds=31))
    assert idempotent(api, Served()).status_code == 422


def test_a_database_fault_in_the_middleware_is_a_retryable_503(api):
    def broken():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database restarts"))

    api._sessions = broken
    served = Served()
    response = idempotent(api, served)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0 and served.calls == 0
    assert response.mimetype == "application/problem+json"


def test_bearer_tokens_from_a_login_are_never_stored(api):
    served = Served(status=200)
    response = idempotent(api, served, path=f"{V1}/auth/token", body=b'{"email": "a@b.c", "password": "x"}')
    assert response.status_code == 200
    with api.sessions()() as session:
        assert session.query(IdempotencyRecord).count() == 0


def test_records_past_their_time_to_live_are_purged(api):
    idempotent(api, Served(), key="old")
    age(api, timedelta(days=2))
    idempotent(api, Served(), key="new")
    with api.sessions()() as session:
        assert purge(session, utcnow()) == 1
        session.commit()
        assert [r.key for r in session.query(IdempotencyRecord)] == ["new"]


def fingerprint_of(body=b'{"a": 1}', path=f"{V1}/contacts") -> str:
    return fingerprint(request(path, body=body))


def age(api, by: timedelta) -> None:
    with api.sessions()() as session:
        for record in session.query(IdempotencyRecord):
            record.created_at -= by
        session.commit()


def test_a_refused_token_is_no_answer_to_keep_so_the_retry_after_a_new_login_runs(api):
    refused, served = Served(status=401), Served()
    assert idempotent(api, refused).status_code == 401
    retried = idempotent(api, served)
    assert retried.status_code == 201 and served.calls == 1 and "Idempotent-Replayed" not in retried.headers


def unfinished(api, owner: str | None, path=f"{V1}/contacts", claimed_ago: float = 4, beaten_ago: float | None = None):
    """A request under key k1 that `owner` claimed `claimed_ago` seconds ago and never finished; the
    owner's last heartbeat `beaten_ago` seconds ago (None: no row, it ended or never beat)."""
    now = utcnow()
    with api.sessions()() as session:
        print_ = fingerprint_of(path=path)
        at = now - timedelta(seconds=claimed_ago)
        session.add(IdempotencyRecord(caller="u:u1", key="k1", fingerprint=print_, created_at=at, owner=owner))
        if beaten_ago is not None:
            beat(session, owner, now - timedelta(seconds=beaten_ago))
        session.commit()


def owner_of_k1(api) -> str | None:
    with api.sessions()() as session:
        return session.get(IdempotencyRecord, ("u:u1", "k1")).owner


def test_a_request_is_claimed_in_the_name_of_the_gateway_process_serving_it(api):
    served = Served(read_body=False)
    api(request(body=b'{"a": 1}', token=token_for("u1"), **{"Idempotency-Key": "k1"}), served)
    assert owner_of_k1(api) == "this-gateway"


@pytest.mark.parametrize("beaten_ago", [None, 10.0], ids=["its row is gone", "it stopped beating"])
def test_a_key_held_by_a_dead_gateway_is_taken_over_long_before_its_lease_ends(api, beaten_ago):
    unfinished(api, owner="dead-gateway", claimed_ago=4, beaten_ago=beaten_ago)
    served = Served()
    assert idempotent(api, served).status_code == 201 and served.calls == 1
    assert owner_of_k1(api) == "this-gateway"
    assert idempotent(api, served).headers["Idempotent-Replayed"] == "true" and served.calls == 1


def test_a_key_held_by_a_gateway_that_still_beats_stays_in_progress(api):
    unfinished(api, owner="live-gateway", claimed_ago=20, beaten_ago=0.5)
    served = Served()
    assert idempotent(api, served).status_code == 409 and served.calls == 0


def test_a_key_claimed_a_moment_ago_is_not_taken_over_even_if_its_owner_has_not_beaten_yet(api):
    unfinished(api, owner="new-gateway", claimed_ago=0.5, beaten_ago=None)
    served = Served()
    assert idempotent(api, served).status_code == 409 and served.calls == 0


def test_a_record_from_before_owners_waits_for_its_lease(api):
    unfinished(api, owner=None, claimed_ago=20)
    assert idempotent(api, Served()).status_code == 409


def test_a_dead_gateways_key_on_a_route_whose_service_does_not_record_keys_waits_for_the_lease(api):
    """A comment is not an `@idempotent` write: a retry while the dead gateway's call may still be
    queued could comment twice, so only the lease ends it."""
    path = f"{V1}/tickets/t1/comments"
    unfinished(api, owner="dead-gateway", path=path, claimed_ago=4)
    served = Served()
    assert idempotent(api, served, path=path).status_code == 409 and served.calls == 0
    age(api, timedelta(seconds=27))
    assert idempotent(api, served, path=path).status_code == 201 and served.calls == 1


class WhileWaiting:
    """The middleware's pause between two looks at a held key: does `meanwhile` (what another gateway
    or the passing time would do) at the first pause, and counts the pauses."""

    def __init__(self, api, meanwhile=None):
        self.api, self.meanwhile, self.pauses = api, meanwhile, 0

    def __call__(self, seconds):
        self.pauses += 1
        if self.pauses == 1 and self.meanwhile:
            with self.api.sessions()() as session:
                self.meanwhile(session)
                session.commit()


def test_a_retry_waits_for_the_attempt_holding_its_key_and_gets_that_answer(api, monkeypatch):
    monkeypatch.setenv("CRM_IDEMPOTENCY_WAIT_SECONDS", "5")
    unfinished(api, owner="live-gateway", claimed_ago=0.5, beaten_ago=0.1)

    def first_attempt_finishes(session):
        record = session.get(IdempotencyRecord, ("u:u1", "k1"))
        record.status, record.body = 201, '{"id": "from-the-first-attempt"}'
        record.headers = {"Content-Type": "application/json"}

    api.pause = waiting = WhileWaiting(api, first_attempt_finishes)
    served = Served()
    retry = idempotent(api, served)
    assert retry.status_code == 201 and retry.json == {"id": "from-the-first-attempt"}
    assert retry.headers["Idempotent-Replayed"] == "true" and served.calls == 0 and waiting.pauses == 1


def test_a_retry_waits_until_the_killed_gateway_holding_its_key_is_found_dead_then_runs(api, monkeypatch):
    """The retry of a request in flight on a gateway that was killed: the owner's last beat is still
    fresh when the retry comes, stale a moment later; the retry is served, not told 409."""
    monkeypatch.setenv("CRM_IDEMPOTENCY_WAIT_SECONDS", "5")
    unfinished(api, owner="killed-gateway", claimed_ago=4, beaten_ago=0.5)
    api.pause = waiting = WhileWaiting(api, lambda s: beat(s, "killed-gateway", utcnow() - timedelta(seconds=10)))
    served = Served()
    assert idempotent(api, served).status_code == 201 and served.calls == 1 and waiting.pauses == 1
    assert owner_of_k1(api) == "this-gateway"


def test_a_key_still_held_when_the_wait_is_over_is_409_in_progress(api, monkeypatch):
    monkeypatch.setenv("CRM_IDEMPOTENCY_WAIT_SECONDS", "0.2")
    unfinished(api, owner="live-gateway", claimed_ago=20, beaten_ago=0.1)
    api.pause = waiting = WhileWaiting(api)
    served = Served()
    answer = idempotent(api, served)
    assert answer.status_code == 409 and answer.headers["Retry-After"] == "1" and served.calls == 0
    assert waiting.pauses >= 1


def test_a_retry_with_another_body_does_not_wait_for_the_key(api, monkeypatch):
    monkeypatch.setenv("CRM_IDEMPOTENCY_WAIT_SECONDS", "5")
    unfinished(api, owner="live-gateway", claimed_ago=0.5, beaten_ago=0.1)
    api.pause = waiting = WhileWaiting(api)
    assert idempotent(api, Served(), body=b'{"a": 2}').status_code == 422 and waiting.pauses == 0


class DatabaseAwayWhenFinishing:
    """The gateway's sessions, except that the second (storing the answer) finds the database away."""

    def __init__(self, sessions):
        self.sessions, self.opened = sessions, 0

    def __call__(self):
        self.opened += 1
        if self.opened == 2:
            raise OperationalError("UPDATE idempotency_records", {}, ConnectionRefusedError("the database restarts"))
        return self.sessions()


@pytest.mark.parametrize("status", [201, 503])
def test_an_answer_not_stored_while_the_database_was_away_is_stored_once_it_is_back(api, status):
    sessions = api._sessions
    api._sessions = DatabaseAwayWhenFinishing(sessions)
    served = Served(status=status)
    assert idempotent(api, served).status_code == status  # the request happened: its answer is given
    assert idempotent(api, served).status_code == 409 and served.calls == 1  # the key is still claimed
    with sessions() as session:
        assert api.store_unfinished(session) == 1
        assert api.store_unfinished(session) == 0  # stored once
    retried = idempotent(api, served)
    if status == 201:  # kept: the retry gets the first answer, and nothing runs twice
        assert retried.headers["Idempotent-Replayed"] == "true" and served.calls == 1
    else:  # a 503 is no answer to keep: the key was freed, so the retry runs
        assert "Idempotent-Replayed" not in retried.headers and served.calls == 2
