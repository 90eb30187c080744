"""`/api/v1/contacts`: the gateway's routes to the contacts service."""

from contacts.schemas import ContactSchema
from crm_kernel.errors import NotFound, ValidationFailed
from crm_kernel.http import api, entity_response, expected_version, json_body, query_args
from gateway.identity import V1
from gateway.openapi import crud

STAFF = ("admin", "manager", "agent")


class ContactsApi:
    @api("POST", f"{V1}/contacts")
    def create_contact(self, request):
        caller = self.auth.require(request, *STAFF)
        data = json_body(request)
        data.setdefault("owner_id", caller.user_id)
        data.setdefault("department_id", caller.department_id)
        contact = self.contacts.create_contact(data)
        return entity_response(contact, 201, f"{V1}/contacts/{contact['id']}")

    @api("GET", f"{V1}/contacts/<string:contact_id>")
    def get_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        return entity_response(self.contacts.get_contact(contact_id))

    @api("PATCH", f"{V1}/contacts/<string:contact_id>")
    def update_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        changes = json_body(request)
        return entity_response(self.contacts.update_contact(contact_id, changes, expected_version(request)))

    @api("DELETE", f"{V1}/contacts/<string:contact_id>")
    def delete_contact(self, request, contact_id):
        self.auth.require(request, *STAFF)
        self.contacts.delete_contact(contact_id, expected_version(request))
        return 204, ""

    @api("GET", f"{V1}/contacts")
    def list_contacts(self, request):
        self.auth.require(request, *STAFF)
        return self.contacts.list_contacts(query_args(request))

    def contact_must_exist(self, contact_id: str, field: str = "contact_id") -> None:
        """For records that point at a contact: an unknown one is bad input naming `field`."""
        try:
            self.contacts.get_contact(contact_id)
        except NotFound:
            raise ValidationFailed(f"contact {contact_id} does not exist", {field: ["unknown contact"]}) from None

    @staticmethod
    def describe(spec):
        spec.components.schema("Contact", schema=ContactSchema)
        filters = ("q", "tag", "company_id", "owner_id", "department_id")
        crud(spec, f"{V1}/contacts", "Contact", "contacts", filters=filters)
