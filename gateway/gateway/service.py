"""The gateway: the public HTTP API (`/api/v1`) in front of the services.

Its routes live by resource in `*_api.py` mixins (routes, and their part of the OpenAPI document);
this class puts them together with the dependencies they share.
"""

from functools import cache

from nameko.timer import timer

from crm_kernel.config import env
from crm_kernel.db import utcnow
from crm_kernel.errors import NotFound
from crm_kernel.http import api
from crm_kernel.outbox import Outbox
from crm_kernel.service import ServiceBase
from crm_kernel.signing import InternalKey
from gateway import http, throttle
from gateway.audit_api import AuditApi
from gateway.auth import Auth
from gateway.campaigns_api import CampaignsApi
from gateway.companies_api import CompaniesApi
from gateway.contacts_api import ContactsApi
from gateway.deals_api import DealsApi
from gateway.documents_api import DocumentsApi
from gateway.http import PublicApi
from gateway.identity import V1, IdentityApi
from gateway.interactions_api import InteractionsApi
from gateway.models import OutboxEvent
from gateway.openapi import openapi_document
from gateway.password_api import PasswordApi
from gateway.plans_api import PlansApi
from gateway.reports_api import ReportsApi
from gateway.rpc import DeadlineServiceRpc
from gateway.tasks_api import TasksApi
from gateway.tickets_api import TicketsApi
from gateway.timeline_api import TimelineApi
from gateway.web import WebApp


class GatewayService(
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
    WebApp,
    ServiceBase,
):
    name = "gateway"
    outbox = Outbox(OutboxEvent)
    auth = Auth()
    contacts = DeadlineServiceRpc("contacts")
    interactions = DeadlineServiceRpc("interactions")
    documents = DeadlineServiceRpc("documents")
    reporting = DeadlineServiceRpc("reporting")
    http_middleware = PublicApi()
    internal_key = InternalKey()  # signs the requests to the services' internal routes

    @timer(interval=float(env("CRM_PURGE_INTERVAL_SECONDS", "300")))
    def purge_expired(self):
        """Idempotency records and login throttles past their time to live are deleted."""
        now = utcnow()
        http.purge(self.db, now)
        throttle.purge(self.db, now)
        self.db.commit()

    @api("GET", f"{V1}/openapi.json")
    def openapi(self, request):
        return _openapi()

    @api("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def no_such_route(self, request, path):
        raise NotFound(f"no route {request.method} /{path}; see {V1}/openapi.json")


@cache
def _openapi() -> dict:
    return openapi_document(GatewayService)
