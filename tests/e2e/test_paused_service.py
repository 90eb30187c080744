"""A service that stops answering costs the client a retryable 503, never a hang or a duplicate."""

import os
import signal

from e2e_helpers import V1, contact_body, count_contacts, eventually
from system_launcher import process_serving


def test_a_paused_service_gives_503_and_the_abandoned_write_never_happens(system):
    api = system.client()
    before = count_contacts(system, api)
    contacts_pid = process_serving(int(system.base_url.rsplit(":", 1)[1]) + 1)
    os.kill(contacts_pid, signal.SIGSTOP)
    try:
        # A hang would fail here; the gateway's own deadline (CRM_RPC_TIMEOUT, 5 s in tests) answers first.
        response = api.post(system.url(f"{V1}/contacts"), json=contact_body(), timeout=30)
    finally:
        os.kill(contacts_pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    # Once the service is back, it answers again, and the request the client was told to retry was
    # dropped at its deadline instead of being executed late.
    assert eventually(lambda: api.get(system.url(f"{V1}/contacts"), params={"limit": 1}).status_code == 200)
    assert count_contacts(system, api) == before
