"""The README's walk-through of a complaint and a deal works as printed, over HTTP, on both engines."""

import os
import re
import subprocess
from pathlib import Path

from e2e_helpers import V1, contact_body, json_documents

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
    documents = json_documents(result.stdout)
    refused_move = next(d for d in documents if d.get("status") == 409)
    ticket = documents[documents.index(refused_move) - 1]  # read back just before the refused move
    assert (ticket["status"], ticket["version"]) == ("closed", 8)
    assert ticket["first_response_at"] is not None and ticket["resolved_at"] is not None
    assert refused_move["errors"] == {"status": ["closed -> pending is not allowed"]}
    timeline, found = documents[documents.index(refused_move) + 1 : documents.index(refused_move) + 3]
    assert {item["kind"] for item in timeline["items"]} == {"ticket", "interaction"}
    assert [item["requirements"][0]["topic"] for item in found["items"]] == ["replacement"]
    history, lost = documents[-2:]
    assert [(h["from_stage"], h["to_stage"]) for h in history["items"]][-4:] == [
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "negotiation"),
        ("negotiation", "won"),
    ]
    assert (history["deal"]["stage"], history["deal"]["amount"]) == ("won", "12500.00")
    assert (lost["status"], lost["errors"]) == (422, {"lost_reason": ["required when the stage is lost"]})


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
