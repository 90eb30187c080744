"""A contacts service for integration tests about other services: every contact asked for exists
(with marketing consent), so those tests need not create contacts first."""

from crm_kernel.rpc import rpc


class ContactsStub:
    name = "contacts"

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "marketing_consent": True}
