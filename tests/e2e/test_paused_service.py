"""A service that stops answering costs the client a retryable 503, never a hang or a duplicate."""

import os
import re
import signal

from e2e_helpers import V1, contact_body, eventually
from system_launcher import process_serving


def expired_creates(system, port: int) -> float:
    """`crm_rpc_expired_requests_total` of `create_contact` as the contacts service exports it."""
    metrics = system.http.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(r'^crm_rpc_expired_requests_total\{method="create_contact"\} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_paused_service_gives_503_and_the_abandoned_write_never_happens(system):
    api = system.client()
    contacts_port = int(system.base_url.rsplit(":", 1)[1]) + 1
    contacts_pid = process_serving(contacts_port)
    expired_before = expired_creates(system, contacts_port)
    abandoned = contact_body()
    os.kill(contacts_pid, signal.SIGSTOP)
    try:
        # A hang would fail here; the gateway's own deadline (CRM_RPC_TIMEOUT, 5 s in tests) answers first.
        response = api.post(system.url(f"{V1}/contacts"), json=abandoned, timeout=30)
    finally:
        os.kill(contacts_pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    # Once the service is back it takes the queued request and drops it, its deadline passed: wait for
    # that (the counter), not for a while, then the write must be nowhere.
    assert eventually(lambda: expired_creates(system, contacts_port) == expired_before + 1)
    found = api.get(system.url(f"{V1}/contacts"), params={"q": abandoned["emails"][0]})
    assert found.status_code == 200 and found.json()["items"] == []
