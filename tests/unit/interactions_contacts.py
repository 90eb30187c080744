"""A stand-in for the contacts service as the interactions service asks it (`contacts.get_contact`)."""

from crm_kernel.errors import NotFound, ServiceUnavailable
from interactions.service import InteractionsService


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
