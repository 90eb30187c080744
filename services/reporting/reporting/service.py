"""The reporting service: read models fed by events, and the KPIs managers steer by."""

from datetime import datetime

from nameko.events import event_handler
from sqlalchemy import func, select

from crm_kernel.metrics import observe_event_lag
from crm_kernel.outbox import Outbox, consume_once
from crm_kernel.rpc import rpc
from crm_kernel.schemas import load
from crm_kernel.service import ServiceBase
from reporting.kpis import KPIS, fact_from_event, period_bounds
from reporting.models import Department, Fact, OutboxEvent, ProcessedEvent
from reporting.schemas import ReportQuerySchema


def on(service: str, event_type: str):
    # Redelivered until applied: a database outage delays the read model, it never loses an event.
    return event_handler(service, event_type, requeue_on_error=True)


class ReportingService(ServiceBase):
    name = "reporting"
    outbox = Outbox(OutboxEvent)

    @on("contacts", "contact.created")
    def on_contact_created(self, event):
        self._record_fact(event)

    @on("interactions", "interaction.created")
    def on_interaction_created(self, event):
        self._record_fact(event)

    @on("gateway", "department.created")
    def on_department_created(self, event):
        self._replicate_department(event)

    @on("gateway", "department.updated")
    def on_department_updated(self, event):
        self._replicate_department(event)

    @rpc
    def kpis(self, query: dict) -> dict:
        params = load(ReportQuerySchema(), query)
        opens, closes = period_bounds(params["from_"], params["to"], params["tz"])
        stmt = (
            select(Fact.kpi, func.count())
            .where(Fact.occurred_at >= opens, Fact.occurred_at < closes)
            .group_by(Fact.kpi)
        )
        for name in ("department_id", "user_id"):
            if params[name]:
                stmt = stmt.where(getattr(Fact, name) == params[name])
        counts = dict.fromkeys(KPIS, 0) | dict(self.db.execute(stmt).all())
        newest = self.db.scalar(select(func.max(ProcessedEvent.processed_at)))
        return {
            "from": params["from_"].isoformat(),
            "to": params["to"].isoformat(),
            "tz": params["tz"],
            "kpis": counts,
            "fresh_as_of": newest.isoformat() if newest else None,
        }

    def _record_fact(self, event: dict) -> None:
        if consume_once(self.db, ProcessedEvent, event):
            fact = fact_from_event(event)
            if fact is not None:
                fact["occurred_at"] = datetime.fromisoformat(fact["occurred_at"])
                self.db.add(Fact(event_id=event["event_id"], **fact))
        self.db.commit()
        observe_event_lag(self.name, event)

    def _replicate_department(self, event: dict) -> None:
        if consume_once(self.db, ProcessedEvent, event):
            entity = event["entity"]
            department = self.db.get(Department, entity["id"]) or Department(id=entity["id"])
            department.name = entity["name"]
            department.parent_id = entity.get("parent_id")
            department.timezone = entity.get("timezone") or "UTC"
            self.db.add(department)
        self.db.commit()
