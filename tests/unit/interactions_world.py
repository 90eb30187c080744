"""What the interactions unit tests share: records as a client sends them, replicas fed by events, the
outbox as recorded, and a stand-in for the contacts service as the interactions service asks it."""

from crm_kernel.errors import NotFound, ServiceUnavailable
from crm_kernel.outbox import make_event
from interactions.models import OutboxEvent
from interactions.service import InteractionsService

BERLIN_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def events(service, event_type=None):
    """The events the service recorded in its outbox (of `event_type` only, when given), oldest first."""
    return [row.payload for row in service.rows(OutboxEvent, OutboxEvent.id) if event_type in (None, row.type)]


def call(**overrides):
    return {
        "contact_id": "c1",
        "channel": "call",
        "direction": "inbound",
        "occurred_at": "2026-03-10T10:15:00+01:00",
        "duration_s": 240,
        "subject": "Complains about a late delivery",
        "user_id": "u1",
    } | overrides


def ticket_data(**overrides):
    return {
        "contact_id": "c1",
        "subject": "Parcel never arrived",
        "priority": "high",
        "department_id": "d1",
    } | overrides


def deal_data(**overrides):
    return {"contact_id": "c1", "title": "3 engines", "amount": "1250.5", "currency": "EUR"} | overrides


def department(service, department_id="d1", parent_id=None, timezone="Europe/Berlin", hours=BERLIN_HOURS):
    entity = {"id": department_id, "name": department_id, "parent_id": parent_id, "timezone": timezone}
    service.on_department_created(make_event("department.created", entity | {"working_hours": hours}, {}))


def user(service, user_id, role, department_id, email=None, timezone="UTC"):
    entity = {"id": user_id, "email": email or f"{user_id}@example.com", "role": role}
    entity |= {"department_id": department_id, "timezone": timezone, "active": True}
    service.on_user_created(make_event("user.created", entity, {}))


def document_event(document_id, contact_id, created_at, event_type="document.created"):
    entity = {"id": document_id, "title": "Complaint letter", "kind": "complaint", "status": "draft"}
    return make_event(event_type, entity | {"contact_id": contact_id, "created_at": created_at}, {})


class ContactsDirectory:
    """Knows the contacts it is given (id -> marketing consent); `down` makes every call a 503."""

    def __init__(self, **consent: bool):
        self.consent = consent
        self.down = False
        self.asked: list[str] = []

    def get_contact(self, contact_id: str) -> dict:
        self.asked.append(contact_id)
        if self.down:
            raise ServiceUnavailable("the contacts service did not answer within 10s")
        if contact_id not in self.consent:
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "marketing_consent": self.consent[contact_id]}


def known_contacts(monkeypatch) -> ContactsDirectory:
    """Make the service's workers find c1 (agreed to marketing) and c2 (did not), for this test."""
    directory = ContactsDirectory(c1=True, c2=False)
    # A plain attribute, not a dependency provider: Nameko's worker_factory leaves it in place.
    monkeypatch.setattr(InteractionsService, "contacts", directory)
    return directory
