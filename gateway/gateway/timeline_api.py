"""`GET /api/v1/contacts/{id}/timeline`: everything about a contact, newest first.

The path is under `/contacts`, but the timeline is the interactions service's view, so its route
lives here, next to the other routes to that service.
"""

from crm_kernel.http import api, query_args
from gateway.openapi import ID_PARAM, PAGE_PARAMS, read_only
from gateway.routing import STAFF, V1


class TimelineApi:
    @api("GET", f"{V1}/contacts/<string:contact_id>/timeline")
    def contact_timeline(self, request, contact_id):
        self.auth.require(request, *STAFF)
        self.contacts.get_contact(contact_id)  # 404 for a contact the caller may not see (or none)
        return self.interactions.contact_timeline(contact_id, query_args(request))

    @staticmethod
    def describe(spec):
        entry = {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["interaction", "ticket", "deal", "task", "document"]},
                "id": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "entity": {"type": "object"},
            },
        }
        page = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": entry},
                "next_cursor": {"type": "string", "nullable": True},
            },
        }
        read_only(
            spec,
            f"{V1}/contacts/{{id}}/timeline",
            "contacts",
            "Interactions, tickets, deals, tasks and documents of the contact that the caller may see, newest "
            "first (keyset pages); 404 for a contact the caller may not see",
            page,
            ID_PARAM + PAGE_PARAMS[:2],
        )
