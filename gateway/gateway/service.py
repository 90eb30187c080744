"""The gateway: the public HTTP API (`/api/v1`) in front of the services.

Its routes live by resource in the `*_api.py` modules: each holds one group of routes (a class whose
methods are `@api` entrypoints) and describes its paths for the OpenAPI document. The groups call no
method of each other; they use the dependencies declared here and the helpers of `gateway.routing`.
A route does its checks of the caller, then calls one RPC method of a service (`self.contacts`, ...),
where the rules of that resource live. Nameko finds entrypoints on the service class only, so the
groups are its bases.
"""

from functools import cache

from nameko.timer import timer

from crm_kernel.config import env
from crm_kernel.db import utcnow
from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.errors import NotFound
from crm_kernel.http import api
from crm_kernel.outbox import Outbox
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey
from gateway import instances, middleware, throttle
from gateway.audit_api import AuditApi
from gateway.auth import Auth
from gateway.campaigns_api import CampaignsApi
from gateway.companies_api import CompaniesApi
from gateway.contacts_api import ContactsApi
from gateway.deals_api import DealsApi
from gateway.documents_api import DocumentsApi
from gateway.identity_api import IdentityApi
from gateway.interactions_api import InteractionsApi
from gateway.middleware import EdgeMiddleware
from gateway.models import OutboxEvent
from gateway.openapi import openapi_document
from gateway.password_api import PasswordApi
from gateway.plans_api import PlansApi
from gateway.reports_api import ReportsApi
from gateway.routing import V1
from gateway.tasks_api import TasksApi
from gateway.tickets_api import TicketsApi
from gateway.timeline_api import TimelineApi
from gateway.web import WebApp

# The groups of `/api/v1` routes, in the order the OpenAPI document describes them.
ROUTE_GROUPS = (
    IdentityApi,
    PasswordApi,
    AuditApi,
    ContactsApi,
    CompaniesApi,
    InteractionsApi,
    TicketsApi,
    DealsApi,
    TasksApi,
    CampaignsApi,
    TimelineApi,
    DocumentsApi,
    ReportsApi,
    PlansApi,
)


class GatewayService(*ROUTE_GROUPS, WebApp, ServiceBase):
    name = "gateway"
    outbox = Outbox(OutboxEvent)
    auth = Auth()
    contacts = DeadlineServiceRpc("contacts")
    interactions = DeadlineServiceRpc("interactions")
    documents = DeadlineServiceRpc("documents")
    reporting = DeadlineServiceRpc("reporting")
    http_middleware = EdgeMiddleware()
    heartbeat = instances.Heartbeat()  # this process is alive: see `gateway.instances`
    internal_key = InternalKey()  # signs the requests to the services' internal routes

    @timer(interval=float(env("CRM_PURGE_INTERVAL_SECONDS", "300")))
    def purge_expired(self):
        """Idempotency records and login throttles past their time to live, and gateway instances long
        silent, are deleted."""
        now = utcnow()
        middleware.purge(self.db, now)
        throttle.purge(self.db, now)
        instances.forget(self.db, now)
        self.db.commit()

    @api("GET", f"{V1}/openapi.json")
    def openapi(self, request):
        return openapi()

    @api("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def no_such_route(self, request, path):
        raise NotFound(f"no route {request.method} /{path}; see {V1}/openapi.json")


@cache
def openapi() -> dict:
    """The OpenAPI document of every `/api/v1` route."""
    return openapi_document(ROUTE_GROUPS)
