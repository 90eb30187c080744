"""The contact a record points at must exist and be one the caller may see: the contacts service says.

Asked by RPC (`contacts.get_contact`, with the caller's scope, which travels in the call context)
through `crm_kernel.deadline_rpc.DeadlineServiceRpc`: a contacts service that does not answer in time
is a retryable 503, and nothing is written.
"""

from crm_kernel.errors import NotFound, ValidationFailed


def require_contact(contacts, contact_id: str, field: str = "contact_id") -> dict:
    """The contact as the contacts service shows it to the caller; an unknown one, or one outside the
    caller's scope, is bad input naming `field` (422), worded alike so it reveals nothing."""
    try:
        return contacts.get_contact(contact_id)
    except NotFound:
        raise ValidationFailed(f"contact {contact_id} does not exist", {field: ["unknown contact"]}) from None
