"""Faults reach the client as retryable errors, never as lost data or a hang."""

import pytest
from nameko.testing.services import entrypoint_hook

from crm_kernel.deadline_rpc import DeadlineServiceRpc
from crm_kernel.errors import ServiceUnavailable
from crm_kernel.rpc import rpc
from crm_kernel.topology import service_class


class Front:
    name = "front"
    contacts = DeadlineServiceRpc("contacts", timeout=5)

    @rpc
    def list_contacts(self):
        return self.contacts.list_contacts({})


def test_a_service_whose_database_is_gone_answers_service_unavailable(rabbit_config, container_factory, monkeypatch):
    monkeypatch.setenv("CONTACTS_DATABASE_URL", "postgresql+pg8000://postgres@127.0.0.1:9/nowhere")
    contacts = container_factory(service_class("contacts"))
    contacts.start()
    front = container_factory(Front)
    front.start()
    with (
        entrypoint_hook(front, "list_contacts") as list_contacts,
        pytest.raises(ServiceUnavailable, match="cannot reach its database"),
    ):
        list_contacts()
