"""The one metrics module: Prometheus series shared by every service and the gateway."""

import time
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram

ENTRYPOINT_LATENCY = Histogram(
    "crm_entrypoint_duration_seconds",
    "Time a worker took to serve an RPC call, event, or HTTP request.",
    ["service", "entrypoint", "outcome"],
)
ENTRYPOINT_ERRORS = Counter(
    "crm_entrypoint_errors_total",
    "Workers that ended in an exception, by exception type.",
    ["service", "entrypoint", "error"],
)
HTTP_RESPONSES = Counter("crm_http_responses_total", "Gateway responses by route and status.", ["route", "status"])
OUTBOX_BACKLOG = Gauge("crm_outbox_backlog", "Events recorded but not yet published.", ["service"])
EVENTS_PUBLISHED = Counter("crm_events_published_total", "Events the outbox relay published.", ["service"])
OUTBOX_RELAY_FAILURES = Counter(
    "crm_outbox_relay_failures_total", "Relay rounds that failed (broker or database down).", ["service"]
)
EVENT_LAG = Histogram(
    "crm_event_lag_seconds",
    "Time from an event's occurrence to its consumption.",
    ["service", "event_type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RPC_TIMEOUTS = Counter("crm_rpc_timeouts_total", "RPC calls the gateway gave up on.", ["service", "method"])


class Metrics(DependencyProvider):
    """Times every worker of the service it is declared on."""

    def setup(self):
        self.started = {}

    def worker_setup(self, worker_ctx):
        self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        if started is None:
            return
        service = self.container.service_name
        name = worker_ctx.entrypoint.method_name
        outcome = "error" if exc_info else "ok"
        ENTRYPOINT_LATENCY.labels(service, name, outcome).observe(time.perf_counter() - started)
        if exc_info:
            ENTRYPOINT_ERRORS.labels(service, name, exc_info[0].__name__).inc()


def observe_event_lag(service: str, events: list[dict]) -> None:
    """Record how long each of `events` took from occurring to being applied by `service` (now: they
    were committed together, so one clock reading and one labelled child per type serve them all)."""
    now, children = datetime.now(UTC), {}
    for event in events:
        child = children.get(event["type"])
        if child is None:
            child = children[event["type"]] = EVENT_LAG.labels(service, event["type"])
        child.observe(max(0.0, (now - datetime.fromisoformat(event["occurred_at"])).total_seconds()))
