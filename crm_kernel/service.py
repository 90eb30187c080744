"""What every service class starts from: its database, call context, timing and health routes."""

from crm_kernel.context import RequestContext
from crm_kernel.db import Database
from crm_kernel.health import Observable
from crm_kernel.metrics import Metrics


class ServiceBase(Observable):
    db = Database()
    context = RequestContext()
    timing = Metrics()
