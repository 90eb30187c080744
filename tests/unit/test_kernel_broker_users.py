"""Each service's own RabbitMQ user, made through the management API with exactly its permissions."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm_kernel import migrations
from crm_kernel.topology import broker_permissions, create_broker_user, service_class


class ManagementApi(BaseHTTPRequestHandler):
    """Records each request as (method, path, user, JSON body); answers 201 or 401."""

    received: list
    admin = "admin:secret"

    def do_PUT(self):
        user = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.command, self.path, user, body))
        self.send_response(201 if user == self.admin else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def management():
    handler = type("Handler", (ManagementApi,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


def test_a_service_user_is_created_with_its_password_and_exactly_its_permissions(management):
    url, received = management
    contacts = service_class("contacts")

    user = create_broker_user(contacts, "s3cret", "amqp://admin:secret@broker:5672/crm", url)

    assert user == "crm-contacts"
    assert received == [
        ("PUT", "/api/users/crm-contacts", "admin:secret", {"password": "s3cret", "tags": ""}),
        ("PUT", "/api/permissions/crm/crm-contacts", "admin:secret", broker_permissions(contacts)),
    ]


def test_the_default_virtual_host_is_named_as_the_api_wants_it(management):
    url, received = management

    create_broker_user(service_class("reporting"), "pw", "amqp://admin:secret@broker:5672/", url)

    assert received[1][1] == "/api/permissions/%2F/crm-reporting"


def test_a_refused_administrator_stops_with_the_apis_answer(management):
    url, received = management

    with pytest.raises(Exception, match="401"):
        create_broker_user(service_class("gateway"), "pw", "amqp://guest:guest@broker:5672/", url)
    assert len(received) == 1  # no permissions for a user that was not made


def test_migrations_make_the_user_only_when_the_service_has_a_broker_password(monkeypatch, management):
    url, received = management
    monkeypatch.setattr(migrations, "upgrade", lambda service: None)
    monkeypatch.setattr("crm_kernel.topology.declare_event_queues", lambda service_cls: [])
    monkeypatch.setenv("AMQP_URI", "amqp://admin:secret@broker:5672/")
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", url)

    migrations.prepare("documents")
    monkeypatch.setenv("DOCUMENTS_BROKER_PASSWORD", "pw")
    migrations.prepare("documents")

    assert [path for _, path, _, _ in received] == ["/api/users/crm-documents", "/api/permissions/%2F/crm-documents"]
