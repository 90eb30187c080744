"""Internal routes: only requests the gateway signed, for the scope it signed, within seconds."""

import pytest
from werkzeug.test import EnvironBuilder

from crm_kernel.errors import Unauthorized
from crm_kernel.scope import Scope
from crm_kernel.secrets import WeakSecret
from crm_kernel.signing import internal_key, signed_headers, verified_caller, verified_scope, with_query

KEY = b"k" * 32
NOW = 1_790_000_000.0
AGENT = Scope("u1", "agent", "d1", ("d1",))


def arriving(method="GET", path="/export", headers=None, query=""):
    return EnvironBuilder(method=method, path=path, query_string=query, headers=headers or {}).get_request()


def test_a_signed_request_carries_the_scope_the_gateway_signed():
    request = arriving(headers=signed_headers(KEY, "GET", "/export", AGENT, now=NOW))
    assert verified_scope(request, KEY, now=NOW + 5) == AGENT


def test_the_query_string_is_signed_as_it_is_sent():
    target = with_query("/export", {"q": "Núñez & Co", "tag": "vip"})
    assert target == "/export?q=N%C3%BA%C3%B1ez+%26+Co&tag=vip"
    signed = signed_headers(KEY, "GET", target, AGENT, now=NOW)
    assert verified_scope(arriving(headers=signed, query=target.split("?", 1)[1]), KEY, now=NOW) == AGENT
    assert with_query("/export", {}) == "/export"  # no parameters: no `?`


@pytest.mark.parametrize(
    ("signed_query", "sent_query"),
    [
        ("mode=create", "mode=upsert"),  # changed: an import that may now update
        ("", "mode=update"),  # added
        ("mode=create", ""),  # dropped
        ("mode=create", "mode=create&match_by=id"),  # extended
    ],
)
def test_a_changed_added_or_dropped_query_is_refused(signed_query, sent_query):
    target = f"/import?{signed_query}" if signed_query else "/import"
    request = arriving("POST", "/import", signed_headers(KEY, "POST", target, AGENT, now=NOW), query=sent_query)
    with pytest.raises(Unauthorized, match="does not match"):
        verified_caller(request, KEY, now=NOW)


def test_the_actor_the_gateway_signed_comes_through_with_the_scope():
    request = arriving("POST", "/import", signed_headers(KEY, "POST", "/import", AGENT, actor="u1", now=NOW))
    assert verified_caller(request, KEY, now=NOW) == (AGENT, "u1")
    unsigned = arriving("POST", "/import", signed_headers(KEY, "POST", "/import", AGENT, now=NOW))
    assert verified_caller(unsigned, KEY, now=NOW) == (AGENT, None)
    assert "X-Actor" not in signed_headers(KEY, "POST", "/import", AGENT, now=NOW)


@pytest.mark.parametrize(
    ("actor", "tamper"),
    [
        ("u1", {"X-Actor": "u-admin"}),  # changed
        ("u1", {"X-Actor": ""}),  # emptied
        (None, {"X-Actor": "u-admin"}),  # added to a request signed with no actor
    ],
)
def test_a_changed_or_added_actor_is_refused(actor, tamper):
    headers = signed_headers(KEY, "POST", "/import", AGENT, actor=actor, now=NOW) | tamper
    with pytest.raises(Unauthorized, match="does not match"):
        verified_caller(arriving("POST", "/import", headers), KEY, now=NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        verified_scope(arriving("POST", "/import", headers), KEY, now=NOW)


def test_a_dropped_actor_is_refused():
    headers = signed_headers(KEY, "POST", "/import", AGENT, actor="u1", now=NOW)
    del headers["X-Actor"]
    with pytest.raises(Unauthorized, match="does not match"):
        verified_caller(arriving("POST", "/import", headers), KEY, now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        {"X-Scope": Scope.system().encode()},  # a wider scope than was signed
        {"X-Signature": "0" * 64},
        {"X-Signed-At": str(int(NOW) + 1)},
    ],
)
def test_a_changed_scope_time_or_signature_is_refused(tamper):
    headers = signed_headers(KEY, "GET", "/export", AGENT, now=NOW) | tamper
    with pytest.raises(Unauthorized):
        verified_scope(arriving(headers=headers), KEY, now=NOW)


def test_a_signature_for_another_method_path_or_key_is_refused():
    headers = signed_headers(KEY, "GET", "/export", AGENT, now=NOW)
    for request, key in [
        (arriving("POST", "/export", headers), KEY),
        (arriving("GET", "/import", headers), KEY),
        (arriving("GET", "/export", headers), b"another-key-of-thirty-two-bytes!"),
    ]:
        with pytest.raises(Unauthorized, match="does not match"):
            verified_scope(request, key, now=NOW)


def test_a_signature_expires_within_seconds():
    request = arriving(headers=signed_headers(KEY, "GET", "/export", AGENT, now=NOW))
    with pytest.raises(Unauthorized, match="expired"):
        verified_scope(request, KEY, now=NOW + 31)
    with pytest.raises(Unauthorized, match="expired"):
        verified_scope(request, KEY, now=NOW - 31)


@pytest.mark.parametrize("dropped", ["X-Scope", "X-Signed-At", "X-Signature"])
def test_an_unsigned_request_or_one_without_a_scope_is_refused(dropped):
    headers = signed_headers(KEY, "GET", "/export", AGENT, now=NOW)
    del headers[dropped]
    with pytest.raises(Unauthorized, match="only requests the gateway signed"):
        verified_scope(arriving(headers=headers), KEY, now=NOW)


def test_seeing_everything_is_said_explicitly():
    assert Scope.system().unrestricted and Scope.system().role == "system"
    assert Scope.decode(Scope.system().encode()) == Scope.system()
    assert not AGENT.unrestricted


def test_the_processes_of_one_machine_share_one_generated_key_in_development(monkeypatch, tmp_path):
    monkeypatch.delenv("CRM_INTERNAL_KEY", raising=False)
    monkeypatch.delenv("CRM_ENVIRONMENT", raising=False)
    monkeypatch.setenv("CRM_VAR_DIR", str(tmp_path))
    first = internal_key()
    assert len(first) == 64 and internal_key() == first
    assert (tmp_path / "internal-key").stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["internal-key"]


def test_outside_development_the_internal_key_must_be_given_and_strong(monkeypatch):
    monkeypatch.setenv("CRM_ENVIRONMENT", "production")
    monkeypatch.delenv("CRM_INTERNAL_KEY", raising=False)
    with pytest.raises(WeakSecret, match="CRM_INTERNAL_KEY is not set"):
        internal_key()
    monkeypatch.setenv("CRM_INTERNAL_KEY", "dev-only-internal-signing-key")
    with pytest.raises(WeakSecret, match="placeholder"):
        internal_key()
