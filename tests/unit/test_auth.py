"""Passwords, bearer tokens, and who may call."""

import re
import secrets
import traceback
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from werkzeug.test import EnvironBuilder

from crm_kernel.config import PG_DRIVERS
from crm_kernel.db import get_engine, utcnow
from crm_kernel.errors import Forbidden, Unauthorized
from crm_kernel.scope import Scope
from gateway import auth
from gateway.auth import Authenticator, hash_password, issue_token, password_matches, principal_from_token

KEY = secrets.token_urlsafe(48)


@dataclass
class User:
    id: str = "u42"
    role: str = "agent"
    department_id: str | None = "d7"
    token_generation: int = 0


def request_with(authorization=None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return EnvironBuilder(method="GET", path="/api/v1/contacts", headers=headers).get_request()


def bearer(user=None, key=KEY):
    return f"Bearer {issue_token(user or User(), key)['access_token']}"


def forged(claims, key=KEY):
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.fixture(scope="module")
def stored_hash():
    return hash_password("correct horse battery")


def test_the_right_password_matches_its_hash(stored_hash):
    assert password_matches(stored_hash, "correct horse battery")


def test_a_wrong_password_does_not_match(stored_hash):
    assert not password_matches(stored_hash, "correct horse battery!")


def test_no_password_matches_an_unknown_user():
    assert not password_matches(None, "correct horse battery")


def test_a_garbled_hash_matches_nothing():
    assert not password_matches("not-an-argon2-hash", "correct horse battery")


def test_a_hash_neither_contains_the_password_nor_repeats_for_the_same_password(stored_hash):
    assert "correct horse battery" not in stored_hash
    assert hash_password("correct horse battery") != stored_hash


def test_a_token_names_the_user_their_role_and_department():
    token = issue_token(User(id="u42", role="manager", department_id="d7"), KEY)

    principal = principal_from_token(token["access_token"], KEY)

    assert (principal.user_id, principal.role, principal.department_id) == ("u42", "manager", "d7")
    assert token["token_type"] == "Bearer"


def test_a_token_expires_after_its_ttl(monkeypatch):
    monkeypatch.setenv("CRM_TOKEN_TTL_SECONDS", "900")
    token = issue_token(User(), KEY)

    claims = jwt.decode(token["access_token"], KEY, algorithms=["HS256"])

    assert token["expires_in"] == 900
    assert claims["exp"] - claims["iat"] == 900


def test_an_expired_token_is_unauthorized_and_says_so():
    now = utcnow()
    token = forged({"sub": "u42", "role": "agent", "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)})

    with pytest.raises(Unauthorized, match="expired"):
        principal_from_token(token, KEY)


def test_a_token_verified_once_is_refused_once_it_expires(monkeypatch):
    now = utcnow()
    token = forged({"sub": "u42", "role": "agent", "iat": now, "exp": now + timedelta(seconds=60)})
    assert principal_from_token(token, KEY).user_id == "u42"
    monkeypatch.setattr(auth.jwt, "decode", lambda *args, **kwargs: pytest.fail("the signature was checked again"))
    assert principal_from_token(token, KEY).user_id == "u42"

    monkeypatch.setattr(auth.time, "time", lambda: now.timestamp() + 61)
    with pytest.raises(Unauthorized, match="expired"):
        principal_from_token(token, KEY)


def test_a_token_verified_with_one_key_is_not_valid_with_another():
    token = issue_token(User(), KEY)["access_token"]
    assert principal_from_token(token, KEY).user_id == "u42"

    with pytest.raises(Unauthorized, match="not valid"):
        principal_from_token(token, secrets.token_urlsafe(48))


def test_a_token_signed_with_another_key_is_unauthorized():
    token = issue_token(User(), secrets.token_urlsafe(48))["access_token"]

    with pytest.raises(Unauthorized, match="not valid"):
        principal_from_token(token, KEY)


def test_a_token_that_never_expires_is_unauthorized():
    with pytest.raises(Unauthorized):
        principal_from_token(forged({"sub": "u42", "role": "admin"}), KEY)


def test_an_unsigned_token_is_unauthorized():
    token = jwt.encode({"sub": "u42", "role": "admin", "exp": utcnow() + timedelta(hours=1)}, None, algorithm="none")

    with pytest.raises(Unauthorized):
        principal_from_token(token, KEY)


def test_a_caller_with_an_allowed_role_is_let_in_and_recorded_as_the_actor():
    context = {"request_id": "r1"}

    principal = Authenticator(KEY, context).require(request_with(bearer(User(role="manager"))), "admin", "manager")

    assert principal.user_id == "u42"
    assert context["actor"] == "u42" and context["request_id"] == "r1"
    assert Scope.from_context(context) == Scope("u42", "manager", "d7", ())


def test_any_role_is_let_in_when_none_is_named():
    assert Authenticator(KEY, {}).require(request_with(bearer(User(role="analyst")))).role == "analyst"


def test_a_caller_whose_role_is_not_allowed_is_forbidden_and_not_recorded_as_the_actor():
    context = {}

    with pytest.raises(Forbidden, match="agent"):
        Authenticator(KEY, context).require(request_with(bearer(User(role="agent"))), "admin", "manager")

    assert "actor" not in context


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not.a.jwt", "Bearer abc"],
)
def test_a_missing_or_garbled_authorization_header_is_unauthorized(authorization):
    context = {}

    with pytest.raises(Unauthorized):
        Authenticator(KEY, context).require(request_with(authorization))

    assert context == {}


def test_the_bearer_scheme_is_case_insensitive():
    assert Authenticator(KEY, {}).require(request_with(bearer().replace("Bearer", "bearer"))).user_id == "u42"


def test_no_engine_puts_the_values_of_a_query_into_its_errors(database_url):
    # SQLAlchemy's copy of the parameters (hide_parameters) and PostgreSQL's DETAIL of a unique
    # violation ("Key (v)=(...) already exists"), on each driver, and in a logged traceback too.
    if database_url.startswith("sqlite"):
        urls = [database_url]
    else:
        urls = [re.sub(r"^postgresql(\+\w+)?://", f"postgresql+{driver}://", database_url) for driver in PG_DRIVERS]
    secret = f"hunter2-{secrets.token_hex(8)}"  # not in this file's source, which a traceback quotes
    for url in urls:
        engine = get_engine(url)
        assert engine.hide_parameters
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS t"))
            connection.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
            connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
        with pytest.raises(IntegrityError) as failure, engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
        logged = "".join(traceback.format_exception(failure.value))
        assert "unique" in logged.lower() and secret not in logged, url
