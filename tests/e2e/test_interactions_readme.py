"""The README's walk-through of a complaint and a deal works as printed, over HTTP, on both engines."""

import os
import re
import subprocess
from pathlib import Path

from e2e_helpers import V1, contact_body

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_scripts() -> list[str]:
    """The sh blocks of the README's walk-through section, in order (by heading)."""
    text = README.read_text()
    section = text.split("## Walk-through: a complaint and a deal", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_complaint_and_the_deal_walkthrough_runs_as_printed(system, tmp_path):
    admin = system.client()
    demo = {"email": "admin@example.com", "name": "Demo", "role": "admin", "password": "demo-admin-password"}
    assert admin.post(system.url(f"{V1}/users"), json=demo).status_code in (201, 409)
    complaint, deal = walkthrough_scripts()
    script = (complaint + deal).replace("http://127.0.0.1:8000", system.base_url)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CRM_ADMIN_PASSWORD": demo["password"]},  # as the README asks
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"status": "closed"' in out and '"first_response_at": "20' in out and '"resolved_at": "20' in out
    assert '"status": 409' in out and "closed -> pending is not allowed" in out
    assert '"kind": "ticket"' in out and '"kind": "interaction"' in out  # the timeline
    assert '"topic": "replacement"' in out  # found by its requirement
    assert '"to_stage": "won"' in out and '"from_stage": "negotiation"' in out
    assert '"amount": "12500.00"' in out
    assert '"status": 422' in out and '"lost_reason"' in out


def test_records_of_an_unknown_contact_are_refused_naming_contact_id(system):
    api = system.client()
    for path, body in [
        ("tickets", {"subject": "s"}),
        ("deals", {"title": "t", "amount": "1", "currency": "EUR"}),
        ("tasks", {"title": "t"}),
    ]:
        response = api.post(system.url(f"{V1}/{path}"), json={"contact_id": "no-such-contact", **body})
        assert response.status_code == 422, (path, response.text)
        assert list(response.json()["errors"]) == ["contact_id"]


def test_a_campaign_reaches_only_contacts_who_agreed_to_marketing(system):
    api = system.client()
    agreed = api.post(system.url(f"{V1}/contacts"), json=contact_body(marketing_consent=True)).json()
    refused = api.post(system.url(f"{V1}/contacts"), json=contact_body()).json()
    campaign = api.post(system.url(f"{V1}/campaigns"), json={"name": "Winter", "offer": "free delivery"}).json()
    responses = system.url(f"{V1}/campaigns/{campaign['id']}/responses")

    assert api.post(responses, json={"contact_id": agreed["id"], "kind": "sent"}).status_code == 201
    denied = api.post(responses, json={"contact_id": refused["id"], "kind": "sent"})

    assert denied.status_code == 422 and list(denied.json()["errors"]) == ["contact_id"]
    assert api.get(responses).json()["counts"]["sent"] == 1


def test_analysts_neither_read_nor_write_operational_records(system):
    analyst = {"email": "analyst-interactions@example.com", "name": "Ana", "role": "analyst"}
    created = system.client().post(system.url(f"{V1}/users"), json=analyst | {"password": "an-analyst-password"})
    assert created.status_code == 201, created.text
    api = system.client(system.token(analyst["email"], "an-analyst-password"))

    for path in ("interactions", "tickets", "deals", "tasks", "campaigns", "sla-policies"):
        assert api.get(system.url(f"{V1}/{path}")).status_code == 403, path
    assert api.post(system.url(f"{V1}/tickets"), json={"contact_id": "c", "subject": "s"}).status_code == 403
