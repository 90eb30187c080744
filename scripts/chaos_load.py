"""The load of `make chaos` and what it is reconciled against: writers through the public API, every
POST with an `Idempotency-Key` retried with it, and the read-back that counts what was lost or doubled."""

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import requests


class Load:
    """Writers creating a contact, then an interaction for it, through both gateways; every POST
    carries an `Idempotency-Key` and is retried with it until acknowledged (or `give_up` seconds)."""

    stuck_after = 30.0  # seconds of nothing but 409 "in progress" for one key

    def __init__(self, gateways: list[str], token: str, run: str, writers: int = 3, give_up: float = 120):
        self.gateways = gateways
        self.token = token
        self.run = run
        self.writers = writers
        self.give_up = give_up
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.sent = 0
        self.statuses: Counter = Counter()
        self.bad: list[str] = []  # answers that break the contract: a 5xx other than 503 + Retry-After
        self.acked: dict[str, dict] = {}  # marker -> {"contact": id, "interaction": id}
        self.unacked: list[str] = []  # gave up: no answer but 503s within `give_up`
        self.stuck: list[str] = []  # gave up: the gateway kept answering "in progress" (409)
        self.latencies: list[tuple[float, float]] = []  # (time, seconds) of acknowledged requests

    def start(self) -> None:
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(self.writers)]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.give_up + 30)

    def _write(self, writer: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        n = 0
        while not self.stopping.is_set():
            n += 1
            marker = f"{self.run}-{writer}-{n}"
            contact = self._post(http, "/api/v1/contacts", {"first_name": "Chaos", "last_name": marker,
                                                            "emails": [f"{marker}@chaos.example.com"]})  # fmt: skip
            if contact is None:
                self._unacked(marker)
                continue
            interaction = self._post(http, "/api/v1/interactions", {
                "contact_id": contact["id"], "channel": "note", "direction": "internal", "subject": marker,
                "occurred_at": datetime.now(UTC).isoformat()})  # fmt: skip
            with self.lock:
                self.acked[marker] = {"contact": contact["id"], "interaction": interaction and interaction["id"]}
            if interaction is None:
                self._unacked(marker + " (interaction)")

    def _unacked(self, marker: str) -> None:
        with self.lock:
            self.unacked.append(marker)

    def _post(self, http: requests.Session, path: str, body: dict) -> dict | None:
        key = uuid.uuid4().hex
        deadline = time.monotonic() + self.give_up
        attempt, in_progress_since = 0, None
        while time.monotonic() < deadline:
            gateway = self.gateways[attempt % len(self.gateways)]
            attempt += 1
            started = time.monotonic()
            try:
                response = http.post(gateway + path, json=body, headers={"Idempotency-Key": key}, timeout=30)
            except requests.RequestException:
                self._count("connection")
                time.sleep(0.2)
                continue  # the other gateway next
            status = response.status_code
            self._count(str(status))
            in_progress_since = (in_progress_since or time.monotonic()) if status == 409 else None
            if in_progress_since and time.monotonic() - in_progress_since > self.stuck_after:
                with self.lock:
                    self.stuck.append(f"{path} {key}")
                return None
            if status == 201:
                with self.lock:
                    self.latencies.append((time.time(), time.monotonic() - started))
                return response.json()
            if status >= 500 and not (status == 503 and response.headers.get("Retry-After")):
                with self.lock:
                    self.bad.append(f"{status} {path}: {response.text[:200]}")
            if status in (409, 429, 503) or status >= 500:
                time.sleep(min(1.0, float(response.headers.get("Retry-After", "0.5") or 0.5)))
                continue
            with self.lock:
                self.bad.append(f"{status} {path}: {response.text[:200]}")  # a client error: the load is wrong
            return None
        return None

    def _count(self, what: str) -> None:
        with self.lock:
            self.sent += 1
            self.statuses[what] += 1


def pages(http: requests.Session, url: str, params: dict) -> list[dict]:
    items, cursor = [], None
    while True:
        answer = http.get(url, params=params | ({"cursor": cursor} if cursor else {}), timeout=30)
        answer.raise_for_status()
        body = answer.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def reconcile(gateway: str, token: str, load: Load, run: str) -> dict:
    """What the services hold against what the clients were told."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    contacts = [c for c in pages(http, f"{gateway}/api/v1/contacts", {"q": run, "limit": 200})
                if c["last_name"].startswith(run)]  # fmt: skip
    interactions = [i for i in pages(http, f"{gateway}/api/v1/interactions", {"q": run, "limit": 200})
                    if (i.get("subject") or "").startswith(run)]  # fmt: skip
    per_contact = Counter(c["last_name"] for c in contacts)
    per_interaction = Counter(i["subject"] for i in interactions)
    contact_ids = {c["id"] for c in contacts}
    interaction_ids = {i["id"] for i in interactions}
    lost = [m for m, ids in load.acked.items() if ids["contact"] not in contact_ids]
    lost += [m for m, ids in load.acked.items() if ids["interaction"] and ids["interaction"] not in interaction_ids]
    duplicates = [f"contact {m}" for m, n in per_contact.items() if n > 1]
    duplicates += [f"interaction {m}" for m, n in per_interaction.items() if n > 1]
    return {
        "acked_writes": sum(1 + bool(ids["interaction"]) for ids in load.acked.values()),
        "read_back": sum(
            (ids["contact"] in contact_ids) + (ids["interaction"] in interaction_ids) for ids in load.acked.values()
        ),  # fmt: skip
        "lost": lost,
        "duplicates": duplicates,
        "stored_contacts": len(contacts),
        "stored_interactions": len(interactions),
    }


def reporting_totals(gateway: str, token: str) -> tuple[int, int]:
    today = datetime.now(UTC).date().isoformat()
    answer = requests.get(
        f"{gateway}/api/v1/reports/kpis",
        params={"from": today, "to": today, "tz": "UTC", "kpi": "contacts_created,interactions"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    totals = answer.json()["kpis"]
    return int(totals["contacts_created"]), int(totals["interactions"])


def p99(samples: list[float]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def p99_recovery(latencies, fault_started: float, fault_ended: float, baseline: float) -> float | None:
    """Seconds after the fault ended until the p99 of 2 s windows of acknowledged writes is within
    twice the baseline (and 100 ms) again; None when it never was within the run."""
    limit = max(2 * baseline, baseline + 0.1)
    after = sorted((t, s) for t, s in latencies if t >= fault_ended)
    start = fault_ended
    while after and start <= after[-1][0]:
        window = [s for t, s in after if start <= t < start + 2]
        if window and p99(window) <= limit:
            return round(max(0.0, start - fault_ended), 1)
        start += 1
    return None
