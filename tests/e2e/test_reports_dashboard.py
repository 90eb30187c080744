"""Reports over HTTP: records created through the gateway show up in the reports, fed by events only."""

import os
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from e2e_helpers import V1, contact_body, eventually, json_documents

README = Path(__file__).resolve().parents[2] / "README.md"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def department(api, system, name: str, parent_id: str | None = None) -> str:
    body = {"name": name, "timezone": "Europe/Berlin", **({"parent_id": parent_id} if parent_id else {})}
    response = api.post(system.url(f"{V1}/departments"), json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.engines("sqlite", "postgresql")
def test_records_created_through_the_gateway_are_reported_by_department_plan_and_comparison(system):
    api = system.client()
    sales = department(api, system, "Sales E2E")
    berlin = department(api, system, "Sales Berlin E2E", sales)
    for department_id in (sales, berlin, berlin):
        created = api.post(system.url(f"{V1}/contacts"), json=contact_body(department_id=department_id))
        assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    for channel in ("call", "email"):
        logged = api.post(
            system.url(f"{V1}/interactions"),
            json={"contact_id": contact_id, "channel": channel, "occurred_at": "2025-06-17T08:00:00+00:00"},
        )
        assert logged.status_code == 201, logged.text

    def by_department():
        report = api.get(
            system.url(f"{V1}/reports/kpis"),
            params={"group_by": "department", "department_id": sales, "kpi": "contacts_created"},
        ).json()
        counts = {group["key"]: group["kpis"]["contacts_created"] for group in report.get("groups", [])}
        return counts == {sales: 3, berlin: 2} and report

    report = eventually(by_department)
    assert report, api.get(system.url(f"{V1}/reports/kpis"), params={"group_by": "department"}).text
    assert report["fresh_as_of"]["event_occurred_at"]

    def on_that_day():  # 2025-06-17: no other test logs anything that day
        return api.get(
            system.url(f"{V1}/reports/kpis"),
            params={"from": "2025-06-17", "to": "2025-06-17", "kpi": "interactions"},
        ).json()

    day = eventually(lambda: on_that_day()["kpis"]["interactions"] == 2 and on_that_day()) or on_that_day()
    assert day["kpis"]["interactions"] == 2
    assert day["breakdowns"]["interactions"]["channel"] == {"call": 1, "email": 1}

    month = date.today().strftime("%Y-%m")
    plan = api.post(
        system.url(f"{V1}/plans"),
        json={"metric": "contacts_created", "period": month, "department_id": sales, "value": "6"},
    )
    assert plan.status_code == 201, plan.text
    against = api.get(system.url(f"{V1}/reports/plan-vs-actual"), params={"period": month, "department_id": sales})
    assert [(row["actual"], row["percentage"]) for row in against.json()["plans"]] == [(3, 50.0)]

    compared = api.get(
        system.url(f"{V1}/reports/compare"), params={"department_id": f"{sales},{berlin}", "kpi": "contacts_created"}
    ).json()
    assert compared["rows"] == [
        {"kpi": "contacts_created", "values": [3, 2], "difference": [None, -1], "relative": [None, -0.3333]}
    ]

    as_csv = api.get(
        system.url(f"{V1}/reports/kpis"),
        params={"group_by": "department", "department_id": sales, "kpi": "contacts_created", "format": "csv"},
    )
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert f"Sales Berlin E2E,{berlin},contacts_created,2" in as_csv.text.splitlines()
    chart = api.get(system.url(f"{V1}/reports/funnel"), params={"format": "png"})
    assert chart.headers["Content-Type"] == "image/png" and chart.content.startswith(PNG_SIGNATURE)


def test_bad_report_queries_are_problems_naming_the_field(system):
    api = system.client()
    for params, field in [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"group_by": "fortnight"}, "group_by"),
        ({"kpi": "happiness"}, "kpi"),
        ({"from": "2024-01-01", "to": "2026-01-01", "group_by": "day"}, "to"),
    ]:
        response = api.get(system.url(f"{V1}/reports/kpis"), params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert list(response.json()["errors"]) == [field]
    missing = api.get(system.url(f"{V1}/reports/plan-vs-actual"))
    assert missing.status_code == 422 and "period" in missing.json()["errors"]


def readme_dashboard_script() -> str:
    section = README.read_text().split("### Reports: a manager's dashboard", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_dashboard_runs_as_printed(system, tmp_path):
    admin = system.client()
    demo = {"email": "admin@example.com", "name": "Demo", "role": "admin", "password": "demo-admin-password"}
    assert admin.post(system.url(f"{V1}/users"), json=demo).status_code in (201, 409)
    script = readme_dashboard_script().replace("http://127.0.0.1:8000", system.base_url)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "CRM_ADMIN_PASSWORD": demo["password"]},  # as the README asks
    )

    assert result.returncode == 0, result.stderr
    by_department, by_week, funnel, plan, against, compared, _months, problem = json_documents(result.stdout)
    ids = {group["label"]: group["key"] for group in by_department["groups"]}
    counts = {group["label"]: group["kpis"]["contacts_created"] for group in by_department["groups"]}
    assert counts == {"Sales": 3, "Sales Berlin": 2}  # Sales includes Sales Berlin
    assert (by_week["group_by"], by_week["tz"]) == ("week", "Europe/Berlin")
    weekly = [group["kpis"]["contacts_created"] for group in by_week["groups"]]
    assert sum(weekly) == by_week["kpis"]["contacts_created"] >= 3
    assert [stage["stage"] for stage in funnel["stages"]] == ["lead", "qualified", "proposal", "negotiation", "won"]
    assert (plan["metric"], plan["department_id"], plan["value"]) == ("contacts_created", ids["Sales"], "6.0000")
    assert [(row["actual"], row["percentage"]) for row in against["plans"]] == [(3, 50.0)]
    assert compared["rows"] == [
        {"kpi": "contacts_created", "values": [3, 2], "difference": [None, -1], "relative": [None, -0.3333]}
    ]
    lines = result.stdout.splitlines()
    assert f"Sales,{ids['Sales']},contacts_created,3" in lines
    assert f"Sales Berlin,{ids['Sales Berlin']},contacts_created,2" in lines
    assert (tmp_path / "dashboard.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (problem["status"], list(problem["errors"])) == (422, ["to"])
