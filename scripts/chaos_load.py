"""The load of `make chaos` and what it is reconciled against: writers through the public API (contacts,
interactions, tickets, deals, document uploads, a CSV import), every POST with an `Idempotency-Key`
retried with it, and the read-back that counts what was lost or doubled."""

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import requests

# What the writers create, with the list it is read back from and the field that carries the marker.
KINDS = {
    "contact": ("/api/v1/contacts", "last_name"),
    "interaction": ("/api/v1/interactions", "subject"),
    "ticket": ("/api/v1/tickets", "subject"),
    "deal": ("/api/v1/deals", "title"),
    "document": ("/api/v1/documents", "title"),
    "imported": ("/api/v1/contacts", "last_name"),
}
UPLOAD_EVERY = 3  # a document upload every third round of a writer
IMPORT_ROWS = 20


def import_csv(run: str) -> bytes:
    """One import per load: rows matched by e-mail, so a retried import updates, never doubles."""
    lines = ["first_name,last_name,email"]
    lines += [f"Imported,{run}-import-{n},{run}-import-{n}@chaos.example.com" for n in range(IMPORT_ROWS)]
    return ("\n".join(lines) + "\n").encode()


class Load:
    """Writers creating a contact, then an interaction, a ticket and a deal for it (and every third round
    a document) through both gateways, and one CSV import; every POST carries an `Idempotency-Key` and
    is retried with it until acknowledged (or `give_up` seconds)."""

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
        self.acked: dict[str, dict] = {}  # marker -> {kind: id} of what was acknowledged
        self.imported: list[str] = []  # markers of the rows of an acknowledged import
        self.unacked: list[str] = []  # gave up: no answer but 503s within `give_up`
        self.stuck: list[str] = []  # gave up: the gateway kept answering "in progress" (409)
        self.in_progress = 0  # 409 "in progress" answers (a retry while the first attempt holds the key)
        self.latencies: list[tuple[float, float]] = []  # (time, seconds) of acknowledged requests

    def start(self) -> None:
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(self.writers)]
        self.threads.append(threading.Thread(target=self._import, daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.give_up + 30)

    def _session(self) -> requests.Session:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        return http

    def _write(self, writer: int) -> None:
        http = self._session()
        n = 0
        while not self.stopping.is_set():
            n += 1
            marker = f"{self.run}-{writer}-{n}"
            contact = self._post(http, "/api/v1/contacts", {"first_name": "Chaos", "last_name": marker,
                                                            "emails": [f"{marker}@chaos.example.com"]})  # fmt: skip
            if contact is None:
                self._unacked(marker)
                continue
            ids = {"contact": contact["id"]}
            with self.lock:
                self.acked[marker] = ids
            of_contact = {"contact_id": contact["id"]}
            bodies = {
                "interaction": ("/api/v1/interactions", {**of_contact, "channel": "note", "direction": "internal",
                                "subject": marker, "occurred_at": datetime.now(UTC).isoformat()}),
                "ticket": ("/api/v1/tickets", {**of_contact, "subject": marker, "priority": "normal"}),
                "deal": ("/api/v1/deals", {**of_contact, "title": marker, "amount": "100.00", "currency": "EUR"}),
            }  # fmt: skip
            for kind, (path, body) in bodies.items():
                written = self._post(http, path, body)
                with self.lock:
                    ids[kind] = written and written["id"]
                if written is None:
                    self._unacked(f"{marker} ({kind})")
            if n % UPLOAD_EVERY == 0:
                form = {"kind": "quote", "title": marker, "contact_id": contact["id"]}
                content = f"Quote {marker}\n".encode() * 64  # a few KiB, distinct per upload
                written = self._post(
                    http, "/api/v1/documents", None, data=form, files={"file": ("quote.txt", content, "text/plain")}
                )
                with self.lock:
                    ids["document"] = written and written["id"]
                if written is None:
                    self._unacked(f"{marker} (document)")

    def _import(self) -> None:
        """One CSV import through the gateway, early in the load (so under the fault, too, when it is long)."""
        http = self._session()
        http.headers["Content-Type"] = "text/csv"
        report = self._post(http, "/api/v1/contacts/import", None, data=import_csv(self.run))
        with self.lock:
            if report is None:
                self.unacked.append(f"{self.run} (import)")
            else:
                self.imported = [f"{self.run}-import-{n}" for n in range(IMPORT_ROWS)]

    def _unacked(self, marker: str) -> None:
        with self.lock:
            self.unacked.append(marker)

    def _post(self, http: requests.Session, path: str, body: dict | None, **send) -> dict | None:
        """POST until acknowledged: `body` as JSON, or `send` (a form with `files`, or raw `data`)."""
        key = uuid.uuid4().hex
        deadline = time.monotonic() + self.give_up
        attempt, in_progress_since = 0, None
        while time.monotonic() < deadline:
            gateway = self.gateways[attempt % len(self.gateways)]
            attempt += 1
            started = time.monotonic()
            try:
                response = http.post(gateway + path, json=body, headers={"Idempotency-Key": key}, timeout=30, **send)
            except requests.RequestException:
                self._count("connection")
                time.sleep(0.2)
                continue  # the other gateway next
            status = response.status_code
            self._count(str(status))
            in_progress_since = (in_progress_since or time.monotonic()) if status == 409 else None
            if status == 409:
                with self.lock:
                    self.in_progress += 1
            if in_progress_since and time.monotonic() - in_progress_since > self.stuck_after:
                with self.lock:
                    self.stuck.append(f"{path} {key}")
                return None
            if status == 201 or (status == 200 and path.endswith("/import")):
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
    """What the services hold against what the clients were told: every acknowledged write read back
    by its id, and no marker stored twice (contacts, interactions, tickets, deals, documents, the
    imported rows)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    stored: dict[str, list[dict]] = {}
    for kind, (path, field) in KINDS.items():
        if kind == "imported":
            continue
        params = {"q": run, "limit": 200} if kind in ("contact", "interaction") else {"limit": 200}
        stored[kind] = [
            item for item in pages(http, gateway + path, params) if str(item.get(field) or "").startswith(run)
        ]
    stored["imported"] = [c for c in stored["contact"] if c["last_name"].startswith(f"{run}-import-")]
    stored["contact"] = [c for c in stored["contact"] if not c["last_name"].startswith(f"{run}-import-")]
    acked = sum(sum(1 for id_ in ids.values() if id_) for ids in load.acked.values()) + len(load.imported)
    lost, duplicates, read_back = [], [], 0
    for kind, (_, field) in KINDS.items():
        ids_stored = {item["id"] for item in stored[kind]}
        for marker, n in Counter(item[field] for item in stored[kind]).items():
            if n > 1:
                duplicates.append(f"{kind} {marker}")
        if kind == "imported":
            names = {item["last_name"] for item in stored[kind]}
            read_back += sum(marker in names for marker in load.imported)
            lost += [f"imported {m}" for m in load.imported if m not in names]
            continue
        for marker, ids in load.acked.items():
            if ids.get(kind):
                if ids[kind] in ids_stored:
                    read_back += 1
                else:
                    lost.append(f"{kind} {marker}")
    return {
        "acked_writes": acked,
        "read_back": read_back,
        "lost": lost,
        "duplicates": duplicates,
        **{f"stored_{kind}s": len(items) for kind, items in stored.items()},
    }


# What reporting counts of what the load writes, and where the services list it: a KPI of today per
# list. Imported rows are contacts (counted as created); documents have no KPI, so no count to compare.
COUNTED = {
    "contacts_created": "/api/v1/contacts",
    "interactions": "/api/v1/interactions",
    "tickets_opened": "/api/v1/tickets",
    "deals_created": "/api/v1/deals",
}


def reporting_totals(gateway: str, token: str) -> dict[str, int]:
    """Today's (UTC) totals of the KPIs in `COUNTED`, as reporting's read models hold them."""
    today = datetime.now(UTC).date().isoformat()
    answer = requests.get(
        f"{gateway}/api/v1/reports/kpis",
        params={"from": today, "to": today, "tz": "UTC", "kpi": ",".join(COUNTED)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    totals = answer.json()["kpis"]
    return {kpi: int(totals[kpi]) for kpi in COUNTED}


def service_totals(gateway: str, token: str) -> dict[str, int]:
    """What the services hold of each kind in `COUNTED` (a chaos cluster's databases start empty, and
    everything in them was written today)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return {kpi: len(pages(http, gateway + path, {"limit": 200})) for kpi, path in COUNTED.items()}


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
