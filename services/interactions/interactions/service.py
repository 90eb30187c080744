"""The interactions service: the history of every request between customers and the company.

Entrypoints only: each calls an entity function (which parses what the caller sent with `schemas`)
with the session, the caller's scope and the clients it needs, and commits. The consumers of other
services' events are in `events`.
"""

import logging

from nameko.timer import timer
from prometheus_client import Counter

from crm_kernel.config import env
from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.idempotency import Idempotency, idempotent
from crm_kernel.outbox import Outbox
from crm_kernel.rpc import rpc
from crm_kernel.service import ServiceBase
from interactions import campaigns, deals, interactions, sla_policies, tasks, tickets, timeline
from interactions.events import EventConsumers
from interactions.models import IdempotentWrite, OutboxEvent, ProcessedEvent

log = logging.getLogger(__name__)
SLA_BREACHES = Counter("crm_sla_breaches_total", "Tickets found past their SLA (alerting: breaches piling up).")
SLA_SCAN_SECONDS = float(env("INTERACTIONS_SLA_SCAN_SECONDS", "60"))


class InteractionsService(EventConsumers, ServiceBase):
    name = "interactions"
    outbox = Outbox(OutboxEvent)
    once = Idempotency(IdempotentWrite)
    processed_events = ProcessedEvent  # events applied, for `crm_kernel.events.consumer`
    contacts = DeadlineServiceRpc("contacts")  # that a record's contact exists, and its consent

    # -- interactions --------------------------------------------------------------------------

    @rpc
    @idempotent
    def create_interaction(self, data: dict) -> dict:
        scope = self.context.scope
        return interactions.create(self.db, scope, data, events=self.outbox, contacts=self.contacts, once=self.once)

    @rpc
    def get_interaction(self, interaction_id: str) -> dict:
        return interactions.get(self.db, self.context.scope, interaction_id)

    @rpc
    def update_interaction(self, interaction_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = interactions.update(
            self.db,
            self.context.scope,
            interaction_id,
            changes,
            expected_version,
            events=self.outbox,
            contacts=self.contacts,
        )
        self.db.commit()
        return updated

    @rpc
    def delete_interaction(self, interaction_id: str, expected_version: int | None = None) -> None:
        interactions.delete(self.db, self.context.scope, interaction_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_interactions(self, query: dict) -> dict:
        return interactions.page(self.db, self.context.scope, query)

    # -- tickets -------------------------------------------------------------------------------

    @rpc
    @idempotent
    def create_ticket(self, data: dict) -> dict:
        created = tickets.create(self.db, self.context.scope, data, events=self.outbox, contacts=self.contacts)
        return self.once.commit(self.db, created)

    @rpc
    def get_ticket(self, ticket_id: str) -> dict:
        return tickets.get(self.db, self.context.scope, ticket_id)

    @rpc
    def update_ticket(self, ticket_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = tickets.update(
            self.db,
            self.context.scope,
            ticket_id,
            changes,
            expected_version,
            events=self.outbox,
            contacts=self.contacts,
        )
        self.db.commit()
        return updated

    @rpc
    def delete_ticket(self, ticket_id: str, expected_version: int | None = None) -> None:
        tickets.delete(self.db, self.context.scope, ticket_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_tickets(self, query: dict) -> dict:
        return tickets.page(self.db, self.context.scope, query)

    @rpc
    def comment_ticket(self, ticket_id: str, data: dict) -> dict:
        """Add a comment; the first customer-facing one is the ticket's first response."""
        added = tickets.comment(self.db, self.context.scope, ticket_id, data, events=self.outbox)
        self.db.commit()
        return added

    @rpc
    def list_ticket_comments(self, ticket_id: str, query: dict | None = None) -> dict:
        """A page of the ticket's comments (`limit`, `cursor`), oldest first unless `sort` says otherwise."""
        return tickets.comments_page(self.db, self.context.scope, ticket_id, query or {})

    @rpc
    def transition_ticket(self, ticket_id: str, data: dict, expected_version: int | None = None) -> dict:
        moved = tickets.transition(self.db, self.context.scope, ticket_id, data, expected_version, events=self.outbox)
        self.db.commit()
        return moved

    @timer(interval=SLA_SCAN_SECONDS)
    def detect_sla_breaches(self) -> int:
        """Mark open tickets past their SLA as breached, escalate them, and announce each once."""
        breached = tickets.escalate_breaches(self.db, events=self.outbox)
        self.db.commit()
        SLA_BREACHES.inc(breached)
        if breached:
            log.info("%d tickets breached their SLA", breached)
        return breached

    # -- SLA policies --------------------------------------------------------------------------

    @rpc
    def create_sla_policy(self, data: dict) -> dict:
        created = sla_policies.create(self.db, self.context.scope, data, events=self.outbox)
        self.db.commit()
        return created

    @rpc
    def get_sla_policy(self, policy_id: str) -> dict:
        return sla_policies.get(self.db, self.context.scope, policy_id)

    @rpc
    def update_sla_policy(self, policy_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = sla_policies.update(
            self.db, self.context.scope, policy_id, changes, expected_version, events=self.outbox
        )
        self.db.commit()
        return updated

    @rpc
    def delete_sla_policy(self, policy_id: str, expected_version: int | None = None) -> None:
        """The department falls back to the default targets (for tickets opened from now on)."""
        sla_policies.delete(self.db, self.context.scope, policy_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_sla_policies(self, query: dict) -> dict:
        return sla_policies.page(self.db, self.context.scope, query)

    # -- deals ---------------------------------------------------------------------------------

    @rpc
    @idempotent
    def create_deal(self, data: dict, actor_id: str | None = None) -> dict:
        created = deals.create(self.db, self.context.scope, data, actor_id, events=self.outbox, contacts=self.contacts)
        return self.once.commit(self.db, created)

    @rpc
    def get_deal(self, deal_id: str) -> dict:
        return deals.get(self.db, self.context.scope, deal_id)

    @rpc
    def update_deal(self, deal_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = deals.update(
            self.db, self.context.scope, deal_id, changes, expected_version, events=self.outbox, contacts=self.contacts
        )
        self.db.commit()
        return updated

    @rpc
    def delete_deal(self, deal_id: str, expected_version: int | None = None) -> None:
        deals.delete(self.db, self.context.scope, deal_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_deals(self, query: dict) -> dict:
        return deals.page(self.db, self.context.scope, query)

    @rpc
    def transition_deal(
        self, deal_id: str, data: dict, actor_id: str | None = None, expected_version: int | None = None
    ) -> dict:
        moved = deals.transition(
            self.db, self.context.scope, deal_id, data, actor_id, expected_version, events=self.outbox
        )
        self.db.commit()
        return moved

    @rpc
    def deal_history(self, deal_id: str) -> dict:
        """Every stage the deal went through, oldest first, with who moved it and when."""
        return deals.history(self.db, self.context.scope, deal_id)

    # -- tasks ---------------------------------------------------------------------------------

    @rpc
    @idempotent
    def create_task(self, data: dict) -> dict:
        created = tasks.create(self.db, self.context.scope, data, events=self.outbox, contacts=self.contacts)
        return self.once.commit(self.db, created)

    @rpc
    def get_task(self, task_id: str) -> dict:
        return tasks.get(self.db, self.context.scope, task_id)

    @rpc
    def update_task(self, task_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = tasks.update(
            self.db, self.context.scope, task_id, changes, expected_version, events=self.outbox, contacts=self.contacts
        )
        self.db.commit()
        return updated

    @rpc
    def delete_task(self, task_id: str, expected_version: int | None = None) -> None:
        tasks.delete(self.db, self.context.scope, task_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_tasks(self, query: dict) -> dict:
        return tasks.page(self.db, self.context.scope, query)

    @rpc
    def list_overdue_tasks(self, query: dict) -> dict:
        """Open tasks whose due time has passed, most overdue first, per assignee or department."""
        return tasks.overdue_page(self.db, self.context.scope, query)

    # -- campaigns -----------------------------------------------------------------------------

    @rpc
    def create_campaign(self, data: dict) -> dict:
        created = campaigns.create(self.db, self.context.scope, data, events=self.outbox)
        self.db.commit()
        return created

    @rpc
    def get_campaign(self, campaign_id: str) -> dict:
        return campaigns.get(self.db, self.context.scope, campaign_id)

    @rpc
    def update_campaign(self, campaign_id: str, changes: dict, expected_version: int | None = None) -> dict:
        updated = campaigns.update(
            self.db, self.context.scope, campaign_id, changes, expected_version, events=self.outbox
        )
        self.db.commit()
        return updated

    @rpc
    def delete_campaign(self, campaign_id: str, expected_version: int | None = None) -> None:
        campaigns.delete(self.db, self.context.scope, campaign_id, expected_version, events=self.outbox)
        self.db.commit()

    @rpc
    def list_campaigns(self, query: dict) -> dict:
        return campaigns.page(self.db, self.context.scope, query)

    @rpc
    def record_campaign_response(self, campaign_id: str, data: dict) -> dict:
        """Record a contact's response; an offer `sent` needs the contact's marketing consent."""
        recorded = campaigns.record_response(
            self.db, self.context.scope, campaign_id, data, events=self.outbox, contacts=self.contacts
        )
        self.db.commit()
        return recorded

    @rpc
    def list_campaign_responses(self, campaign_id: str, query: dict) -> dict:
        """The responses, newest first, and how many of each kind the whole campaign has."""
        return campaigns.responses_page(self.db, self.context.scope, campaign_id, query)

    # -- a contact's timeline ------------------------------------------------------------------

    @rpc
    def contact_timeline(self, contact_id: str, query: dict) -> dict:
        """Interactions, tickets, deals, tasks and documents of the contact, newest first."""
        return timeline.contact_timeline(self.db, self.context.scope, contact_id, query)
