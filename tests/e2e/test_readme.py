"""The curl walk-through in the README works as printed."""

import hashlib
import os
import re
import subprocess
from pathlib import Path

from e2e_helpers import V1, json_documents

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curl_script() -> str:
    text = README.read_text()
    section = text.split("## Try it with curl", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walkthrough_runs_as_printed(system, tmp_path):
    admin = system.client()
    demo = {"email": "admin@example.com", "name": "Demo", "role": "admin", "password": "demo-admin-password"}
    assert admin.post(system.url(f"{V1}/users"), json=demo).status_code in (201, 409)
    script = readme_curl_script().replace("http://127.0.0.1:8000", system.base_url)
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
    read, patched, listed, call, document, kpis, problem = json_documents(out)
    assert re.search(r'(?im)^etag: "1"\r?$', out)
    assert (read["first_name"], read["emails"], read["phones"]) == ("Ada", ["ada@example.com"], ["+442071234567"])
    assert (patched["id"], patched["last_name"], patched["version"]) == (read["id"], "King", 2)
    assert read["id"] in [item["id"] for item in listed["items"]]
    assert all("vip" in item["tags"] for item in listed["items"])
    assert (call["contact_id"], call["occurred_at"]) == (read["id"], "2026-11-30T09:15:00+00:00")
    quote = b"Quote for Ada Lovelace: 3 engines\n"
    assert (document["sha256"], document["size"]) == (hashlib.sha256(quote).hexdigest(), len(quote))
    assert f"{document['sha256']}  quote.txt" in out  # printed by sha256sum only after cmp found them equal
    assert kpis["tz"] == "Europe/Berlin" and set(kpis["kpis"]) == set(KPI_NAMES)
    assert (problem["status"], set(problem["errors"])) == (422, {"first_name", "phones", "colour"})


KPI_NAMES = (
    "contacts_created",
    "interactions",
    "tickets_opened",
    "tickets_resolved",
    "first_response_time",
    "resolution_time",
    "sla_compliance",
    "deals_created",
    "deals_won",
    "deals_lost",
    "won_amount",
    "tasks_completed",
    "tasks_overdue",
    "campaign_responses",
)
