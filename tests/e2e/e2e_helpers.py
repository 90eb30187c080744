"""Small builders for the end-to-end tests."""

import itertools
import json
import time
from datetime import UTC, datetime, timedelta

V1 = "/api/v1"


def around_today(days: int = 400) -> dict:
    """A report period that holds "now" whenever the suite runs: the system under test stamps events
    with its own clock, so the period follows that clock rather than a fixed year."""
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=days)).isoformat(), "to": (today + timedelta(days=days)).isoformat()}


_numbers = itertools.count(1)


def contact_body(**fields) -> dict:
    n = next(_numbers)
    return {"first_name": "Grace", "last_name": f"Hopper{n}", "emails": [f"grace{n}@example.com"], **fields}


def every_item(api, url: str, **params) -> list[dict]:
    """Every item of a list, page after page: a check on the first page alone stops meaning anything
    once the list outgrows it."""
    items, cursor = [], None
    while True:
        page = api.get(url, params={"limit": 200, **params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def count_contacts(system, api) -> int:
    return len(every_item(api, system.url(f"{V1}/contacts")))


def kpis(system, api) -> dict:
    params = {**around_today(), "kpi": "contacts_created,interactions"}
    return api.get(system.url(f"{V1}/reports/kpis"), params=params).json()["kpis"]


def eventually(check, seconds: float = 120):
    """Polls `check` until it returns a truthy value (reports are fed asynchronously by events).

    The bound only stops a hang; a passing check returns at once. It is generous because reporting
    applies events one by one, and after a large import earlier in the run it can be minutes behind
    on a loaded machine (seen: more than 20 s on two shared cores)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def json_documents(text: str) -> list:
    """The JSON objects a script printed, in order (curl prints bodies with no newline between them),
    so that a test checks each command's answer, not a substring anywhere in the output."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        try:
            document, at = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        found.append(document)
    return found
