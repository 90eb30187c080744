"""`/healthz`, `/readyz` and `/metrics`, served by every service and the gateway alike."""

import json

import pika
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from werkzeug.wrappers import Response

from crm_kernel.config import amqp_uri, database_url
from crm_kernel.db import get_engine
from crm_kernel.http import Route, route
from crm_kernel.startup import Startup


class WorkerlessRoute(Route):
    """A route whose method the web server calls itself, with no worker: it must not use `self` (the
    method runs unbound, without the service's dependencies).

    For liveness: a worker costs every dependency provider of the service (a database session, RPC
    clients, ...) and waits for a free slot, so a probe answered by a worker was a third slower than a
    bare Nameko route and, with every worker busy, queued behind the load it was meant to survive.
    """

    def handle_request(self, request):
        return getattr(self.container.service_cls, self.method_name)(None, request)


workerless_route = WorkerlessRoute.decorator


def broker_reachable(uri: str | None = None, timeout: float = 3.0) -> bool:
    """True when RabbitMQ accepts a connection at `uri` (pika, outside Nameko's entrypoints)."""
    params = pika.URLParameters(uri or amqp_uri())
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
        return True
    except Exception:
        return False


def database_reachable(service: str) -> bool:
    try:
        with get_engine(database_url(service)).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


class Observable:
    """Mixed into each service class: liveness, readiness and Prometheus metrics over HTTP."""

    name: str
    startup = Startup()

    @workerless_route("GET", "/healthz")
    def healthz(self, request):
        """Alive: the process's web server answers (no worker, no dependency)."""
        return Response(json.dumps({"status": "ok"}), mimetype="application/json")

    @route("GET", "/readyz")
    def readyz(self, request):
        checks = {
            "database": database_reachable(self.name),
            "broker": broker_reachable(),
            "started": self.startup.complete(),  # every AMQP consumer connected: RPC and events are served
        }
        ready = all(checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        headers = {} if ready else {"Retry-After": "5"}
        return Response(json.dumps(body), status=200 if ready else 503, headers=headers, mimetype="application/json")

    @route("GET", "/metrics")
    def metrics(self, request):
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
