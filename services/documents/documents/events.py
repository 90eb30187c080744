"""The events the documents service consumes, each applied once, committed, its lag recorded
(`crm_kernel.events.consumer`)."""

from crm_kernel.events import consumer
from documents import documents


@consumer("contacts", "contact.merged")
def on_contact_merged(service, event: dict) -> None:
    """The documents of the merged contacts now belong to the surviving one."""
    target = event["entity"]["id"]
    documents.move_to_contact(service.db, event.get("source_ids") or [], target, outbox=service.outbox)
