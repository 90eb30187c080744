"""The idempotency middleware while PostgreSQL restarts: pg8000 lets a dropped socket's own error
through unwrapped (a ConnectionResetError, not a SQLAlchemy error); it is a retryable 503 too, never
a 500, and the route behind it is not run."""

import json
from types import SimpleNamespace

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from gateway.auth import issue_token
from gateway.middleware import EdgeMiddleware

KEY = "a-chaos-test-signing-key-that-is-long-enough"


class ResetSession:
    """A session whose connection PostgreSQL dropped: every use and its close raise the reset."""

    def __init__(self):
        self.closed = False

    def get_bind(self, *args, **kwargs):  # the engine is still there; its connection is not
        return SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))

    def get(self, *args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    execute = connection = scalar = get

    def in_transaction(self):
        return False

    def close(self):
        self.closed = True
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_connection_reset_in_the_middleware_is_a_retryable_503(monkeypatch):
    monkeypatch.setenv("CRM_SECRET_KEY", KEY)
    user = SimpleNamespace(id="u1", role="admin", department_id=None, token_generation=0)
    token = issue_token(user, KEY)["access_token"]
    sessions = []
    api = EdgeMiddleware()
    api._sessions = lambda: sessions.append(ResetSession()) or sessions[-1]  # the sessionmaker
    served = []
    environ = EnvironBuilder(
        method="POST",
        path="/api/v1/contacts",
        data=json.dumps({"first_name": "Ada"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"},
    ).get_environ()

    response = api(Request(environ), lambda request: served.append(request) or Response(status=201))

    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "application/problem+json"
    assert served == [] and sessions and all(session.closed for session in sessions)
