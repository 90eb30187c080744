"""What every service class starts from: its database, call context, timing and health routes."""

from crm_kernel.context import RequestContext
from crm_kernel.db import Database
from crm_kernel.health import Observable
from crm_kernel.metrics import Metrics
from crm_kernel.outbox import audit_trail
from crm_kernel.rpc import rpc


class ServiceBase(Observable):
    """Subclasses declare `outbox = Outbox(TheirOutboxModel)`."""

    db = Database()
    context = RequestContext()
    timing = Metrics()

    @rpc
    def republish_events(self) -> int:
        """Publish this service's whole event history again (for rebuilding read models)."""
        return self.outbox.republish_all(self.db)

    @rpc
    def audit(self, entity_type: str, entity_id: str, limit: int = 200) -> list[dict]:
        """Who changed the entity, when, and what: its events, newest first."""
        return audit_trail(self.db, self.outbox.model, entity_type, entity_id, limit)
