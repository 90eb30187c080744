"""Every KPI over HTTP, fed by the events the services really publish, with exact numbers.

The records go in through the public API into a department of this test's own, so that the report
of that department holds exactly them; reporting learns of them only from the services' events.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from e2e_helpers import V1, around_today, contact_body, eventually


@pytest.mark.engines("sqlite", "postgresql")
def test_each_kpi_of_a_department_counts_exactly_what_was_recorded_through_the_api(system):
    api = system.client()
    url = lambda path: system.url(f"{V1}/{path}")  # noqa: E731

    def created(path: str, body: dict) -> dict:
        answer = api.post(url(path), json=body)
        assert answer.status_code == 201, (path, answer.text)
        return answer.json()

    def moved(path: str, body: dict) -> dict:
        answer = api.post(url(path), json=body)
        assert answer.status_code in (200, 201), (path, answer.text)
        return answer.json()

    started = time.monotonic()
    here = {"department_id": created("departments", {"name": f"KPI {uuid.uuid4().hex[:8]}"})["id"]}
    now = datetime.now(UTC)
    contact = created("contacts", contact_body(marketing_consent=True, **here))
    created("contacts", contact_body(**here))
    about = {"contact_id": contact["id"], **here}
    for channel, direction in (("call", "inbound"), ("call", "outbound"), ("email", "outbound")):
        occurred = now.isoformat()
        created("interactions", {"channel": channel, "direction": direction, "occurred_at": occurred, **about})
    answered = created("tickets", {"subject": "Broken", "priority": "urgent", **about})
    created("tickets", {"subject": "Still waiting", "priority": "low", **about})
    moved(f"tickets/{answered['id']}/transitions", {"status": "open"})
    moved(f"tickets/{answered['id']}/comments", {"body": "On its way", "internal": False})
    moved(f"tickets/{answered['id']}/transitions", {"status": "resolved"})
    won = created("deals", {"title": "Engines", "amount": "1250.50", "currency": "EUR", **about})
    for stage in ("qualified", "proposal", "negotiation", "won"):
        moved(f"deals/{won['id']}/transitions", {"stage": stage})
    lost = created("deals", {"title": "Spares", "amount": "80", "currency": "EUR", **about})
    moved(f"deals/{lost['id']}/transitions", {"stage": "lost", "lost_reason": "price"})
    created("deals", {"title": "Maybe", "amount": "10", "currency": "EUR", **about})
    done = created("tasks", {"title": "Call back", **about})
    answer = api.patch(url(f"tasks/{done['id']}"), json={"status": "done"}, headers={"If-Match": '"1"'})
    assert answer.status_code == 200, answer.text
    created("tasks", {"title": "Send the quote", "due_at": (now - timedelta(hours=2)).isoformat(), **about})
    campaign = created("campaigns", {"name": "Spring", **here})
    for kind in ("sent", "opened"):
        created(f"campaigns/{campaign['id']}/responses", {"contact_id": contact["id"], "kind": kind})
    elapsed = time.monotonic() - started
    query = {**around_today(), **here}

    def report():
        answer = api.get(url("reports/kpis"), params=query)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def complete(kpis) -> bool:  # every event has arrived: each type has a queue of its own, so any order
        counts = ("contacts_created", "interactions", "tickets_opened", "tickets_resolved", "deals_created")
        return (
            [kpis[name] for name in counts] == [2, 3, 2, 1, 3]
            and kpis["campaign_responses"] == 2
            and (
                kpis["tasks_overdue"],
                kpis["deals_won"],
                kpis["deals_lost"],
                kpis["tasks_completed"],
            )
            == (1, 1, 1, 1)
        )

    kpis = eventually(lambda: complete(report()["kpis"]) and report()["kpis"]) or report()["kpis"]

    durations = {name: kpis.pop(name) for name in ("first_response_time", "resolution_time")}
    assert kpis == {
        "contacts_created": 2,
        "interactions": 3,
        "tickets_opened": 2,
        "tickets_resolved": 1,
        "sla_compliance": {"met": 1, "breached": 0, "share": 1.0},
        "deals_created": 3,
        "deals_won": 1,
        "deals_lost": 1,
        "won_amount": {"EUR": "1250.50"},
        "tasks_completed": 1,
        "tasks_overdue": 1,
        "campaign_responses": 2,
    }
    for name, duration in durations.items():
        assert duration["count"] == 1, name
        assert 0 <= duration["median"] <= elapsed, (name, duration)  # seconds between the API calls
