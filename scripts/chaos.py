"""`make chaos`: bad days, rehearsed. Faults are injected into the real processes under load, and
then everything is reconciled: nothing acknowledged may be lost or duplicated, reporting must
converge, and no answer may be a 5xx other than 503 with `Retry-After`.

Everything runs on loopback against a private RabbitMQ node and a private PostgreSQL cluster
(scripts/private_infra.py), never the shared ones: two launchers (scripts/run_local.py, each
supervising its processes) give two replicas of every service and of the gateway. A load generator
creates contacts and interactions through both gateways, every POST with an `Idempotency-Key` and
retried with it. Exit status 1 when a check fails.

    python scripts/chaos.py                    # every scenario, 20 s outages, writes RELIABILITY.md
    python scripts/chaos.py --short            # one short pass of each (what tests/chaos runs)
    python scripts/chaos.py --scenario broker-stop --scenario replica-kill
"""

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pika
import requests

ROOT = Path(__file__).resolve().parent.parent
# The services' packages too: the dead-letter listing reads their queue names from their classes.
sys.path[:0] = [
    str(ROOT / "scripts"),
    str(ROOT),
    str(ROOT / "gateway"),
    *(str(p) for p in (ROOT / "services").glob("*")),
]

from private_infra import PrivateInfra  # noqa: E402
from run_local import PORT_OFFSETS  # noqa: E402

from crm_kernel.topology import SERVICE_CLASSES  # noqa: E402

ADMIN = {"email": "admin@chaos.example.com", "password": "a-chaos-admin-password"}
SERVICES = tuple(SERVICE_CLASSES)


class Cluster:
    """Two (or more) replicas of the whole system, each a `run_local.py` launcher with its supervisor."""

    def __init__(self, infra: PrivateInfra, work: Path, replicas: int = 2):
        self.infra = infra
        self.work = work
        self.env = dict(
            os.environ,
            AMQP_URI=infra.rabbit.uri,
            CRM_VAR_DIR=str(work / "var"),  # shared: documents' blobs are seen by both replicas
            CRM_ADMIN_EMAIL=ADMIN["email"],
            CRM_ADMIN_PASSWORD=ADMIN["password"],
            CRM_SECRET_KEY="chaos-secret-key-that-is-long-enough-for-hs256",  # noqa: S106 (a throw-away system)
            CRM_RPC_TIMEOUT="5",
            CRM_RATE_LIMIT_PER_MINUTE="1000000",
            CRM_RATE_LIMIT_BURST="1000000",
            CRM_EVENT_MAX_DELIVERIES="3",
            PYTHONUNBUFFERED="1",
        )
        for service in SERVICES:
            self.env[f"{service.upper()}_DATABASE_URL"] = infra.postgres.create_database(f"chaos_{service}")
        self.bases = [self._free_base() for _ in range(replicas)]
        self.launchers: list[subprocess.Popen] = []

    @staticmethod
    def _free_base() -> int:
        # Below the ephemeral range, where outgoing connections would take a port between two checks.
        while True:
            base = random.randrange(12000, 30000, 10)
            if all(_port_free(base + offset) for offset in range(len(PORT_OFFSETS))):
                return base

    def start(self, seconds: float = 240) -> None:
        # One after the other: the first migrates the databases and creates the admin.
        for base in self.bases:
            log = (self.work / f"replica-{base}.log").open("ab")
            env = dict(self.env, CRM_PORT=str(base), DOCUMENTS_URL="", CONTACTS_URL="")
            env["DOCUMENTS_URL"] = f"http://127.0.0.1:{base + PORT_OFFSETS['documents']}"
            env["CONTACTS_URL"] = f"http://127.0.0.1:{base + PORT_OFFSETS['contacts']}"
            self.launchers.append(
                subprocess.Popen(
                    [sys.executable, str(ROOT / "scripts" / "run_local.py")],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )  # fmt: skip
            )
            launcher = self.launchers[-1]
            if not wait_until(
                lambda base=base, launcher=launcher: self.ready([base]) or launcher.poll() is not None, seconds
            ):
                raise RuntimeError(f"replica on {base} not ready after {seconds:.0f}s; see {self.work}")
            if launcher.poll() is not None:
                raise RuntimeError(f"the launcher of the replica on {base} exited; see {self.work}")

    def exits(self) -> int:
        """Processes that exited so far (each restarted by its launcher's supervisor)."""
        return sum(log.read_text(errors="replace").count(" exited with ") for log in self.work.glob("replica-*.log"))

    @property
    def gateways(self) -> list[str]:
        return [f"http://127.0.0.1:{base}" for base in self.bases]

    def ready(self, bases: list[int] | None = None) -> bool:
        for base in bases or self.bases:
            for offset in PORT_OFFSETS.values():
                try:
                    if requests.get(f"http://127.0.0.1:{base + offset}/readyz", timeout=2).status_code != 200:
                        return False
                except requests.RequestException:
                    return False
        return True

    def pids(self, service: str) -> list[int]:
        """The live processes of `service`, one per replica (children of the launchers)."""
        launchers = {launcher.pid for launcher in self.launchers}
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid in launchers and SERVICE_CLASSES[service].encode() in (stat.parent / "cmdline").read_bytes():
                    found.append(int(stat.parent.name))
        return sorted(found)

    def signal(self, service: str, signum: int, replicas: int | None = None) -> list[int]:
        pids = self.pids(service)[:replicas]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        return pids

    def close(self) -> None:
        for launcher in self.launchers:
            if launcher.poll() is None:
                launcher.send_signal(signal.SIGTERM)
        for launcher in self.launchers:
            try:
                launcher.wait(timeout=40)
            except subprocess.TimeoutExpired:
                launcher.kill()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_until(check, seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


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


def publish_poison_event(uri: str) -> str:
    """A `contact.created` that reporting cannot apply (no entity): it must be parked, not loop."""
    event_id = uuid.uuid4().hex
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    body = {"event_id": event_id, "type": "contact.created", "occurred_at": "not a time", "entity": None}
    channel.basic_publish("contacts.events", "contact.created", json.dumps(body).encode(),
                          pika.BasicProperties(content_type="application/json", delivery_mode=2))  # fmt: skip
    connection.close()
    return event_id


class Rehearsal:
    """Runs the scenarios against one cluster and collects one row per scenario."""

    def __init__(self, cluster: Cluster, infra: PrivateInfra, outage: float, load_seconds: float, writers: int):
        self.cluster = cluster
        self.infra = infra
        self.outage = outage
        self.load_seconds = load_seconds
        self.writers = writers
        self.token = self._token()
        self.rows: list[dict] = []

    def _token(self) -> str:
        answer = requests.post(f"{self.cluster.gateways[0]}/api/v1/auth/token", json=ADMIN, timeout=30)
        answer.raise_for_status()
        return answer.json()["access_token"]

    # Faults: each returns when the fault has ended (the thing is back, or left to come back).
    def replica_kill(self):
        for service in SERVICES:
            self.cluster.signal(service, signal.SIGKILL, replicas=1)

    def service_down(self):
        self.cluster.signal("interactions", signal.SIGSTOP)
        time.sleep(self.outage)
        self.cluster.signal("interactions", signal.SIGCONT)

    def broker_stop(self):
        self.infra.rabbit.stop()
        time.sleep(self.outage)
        self.infra.rabbit.start()

    def broker_kill(self):
        self.infra.rabbit.kill()
        time.sleep(min(5.0, self.outage))
        self.infra.rabbit.start()

    def postgres_restart(self):
        self.infra.postgres.restart()

    def database_down(self):
        """The contacts database refuses connections (and loses those it had) for the outage."""
        self.infra.postgres.sql("ALTER DATABASE chaos_contacts ALLOW_CONNECTIONS false")
        self.infra.postgres.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'chaos_contacts'"
        )
        time.sleep(self.outage)
        self.infra.postgres.sql("ALTER DATABASE chaos_contacts ALLOW_CONNECTIONS true")

    def poison_event(self):
        self.poisoned = publish_poison_event(self.infra.rabbit.uri)

    SCENARIOS = {
        "replica-kill": (replica_kill, "one replica of every service and of the gateway SIGKILLed"),
        "service-down": (service_down, "every replica of interactions frozen (SIGSTOP) for the outage"),
        "broker-stop": (broker_stop, "RabbitMQ stopped for the outage, then started"),
        "broker-kill": (broker_kill, "RabbitMQ killed -9, started again after 5 s"),
        "postgres-restart": (postgres_restart, "PostgreSQL restarted (fast shutdown)"),
        "database-down": (database_down, "the contacts database refusing connections for the outage"),
        "poison-event": (poison_event, "an event reporting cannot apply published once"),
    }

    def run(self, name: str) -> dict:
        fault, _ = self.SCENARIOS[name]
        run = f"chaos{uuid.uuid4().hex[:8]}"
        load = Load(self.cluster.gateways, self.token, run, writers=self.writers)
        exits_before = self.cluster.exits()
        load.start()
        time.sleep(self.load_seconds / 2)
        baseline = p99([s for _, s in load.latencies]) or 0.1
        fault_started = time.time()
        fault(self)
        fault_ended = time.time()
        ready_after = wait_seconds(self.cluster.ready, 120)
        time.sleep(self.load_seconds / 2)
        load.stop()
        row = {"scenario": name, "sent": load.sent, "acknowledged": len(load.acked)}
        row["statuses"] = dict(sorted(load.statuses.items()))
        row["bad_answers"] = load.bad[:5]
        row["unacknowledged"] = len(load.unacked)
        row["stuck_keys"] = len(load.stuck)
        # Exits the scenario did not cause itself (replica-kill kills one process of each kind).
        row["process_exits"] = self.cluster.exits() - exits_before - (len(SERVICES) if name == "replica-kill" else 0)
        row.update(reconcile(self.cluster.gateways[0], self.token, load, run))
        row["ready_after_s"] = ready_after
        row["p99_back_after_s"] = p99_recovery(load.latencies, fault_started, fault_ended, baseline)
        row["reporting_converged_after_s"] = wait_seconds(lambda: self._converged(), 120)
        row["dead_lettered"] = self._dead_lettered()
        row["failures"] = failures(row)
        self.rows.append(row)
        return row

    def _converged(self) -> bool:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        try:
            contacts = len(pages(http, f"{self.cluster.gateways[0]}/api/v1/contacts", {"limit": 200}))
            interactions = len(pages(http, f"{self.cluster.gateways[0]}/api/v1/interactions", {"limit": 200}))
            return reporting_totals(self.cluster.gateways[0], self.token) == (contacts, interactions)
        except requests.RequestException:
            return False

    def _dead_lettered(self) -> int:
        from crm_kernel.deadletters import list_parked

        try:
            return len(list_parked(self.infra.rabbit.uri))
        except Exception as exc:
            print(f"could not list dead letters: {exc!r}", flush=True)
            return -1


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


def wait_seconds(check, seconds: float) -> float | None:
    started = time.monotonic()
    return round(time.monotonic() - started, 1) if wait_until(check, seconds) else None


def failures(row: dict) -> list[str]:
    found = []
    if row["lost"]:
        found.append(f"{len(row['lost'])} acknowledged writes missing")
    if row["duplicates"]:
        found.append(f"{len(row['duplicates'])} writes duplicated")
    if row["bad_answers"]:
        bad = [key for key in row["statuses"] if key.isdigit() and int(key) >= 500 and key != "503"]
        found.append(f"answers other than 503 + Retry-After ({', '.join(bad) or 'other'}); first: "
                     f"{row['bad_answers'][0][:80]}")  # fmt: skip
    if row["reporting_converged_after_s"] is None:
        found.append("reporting did not converge")
    if row["ready_after_s"] is None:
        found.append("not every /readyz answered 200 again")
    if row["scenario"] == "poison-event" and row["dead_lettered"] < 1:
        found.append("the poison event was not parked")
    return found


def table(rows: list[dict]) -> str:
    head = ("scenario", "sent", "acked", "client errors", "read back", "lost", "dup", "unacked", "stuck keys",
            "other exits", "ready after s", "p99 back after s", "reporting converged s", "dead-lettered",
            "result")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        errors = {k: v for k, v in row["statuses"].items() if k != "201"}
        cells = (row["scenario"], row["sent"], row["acked_writes"], ", ".join(f"{k}: {v}" for k, v in errors.items())
                 or "none", row["read_back"], len(row["lost"]), len(row["duplicates"]), row["unacknowledged"],
                 row["stuck_keys"], row.get("process_exits"),
                 row["ready_after_s"], row["p99_back_after_s"], row["reporting_converged_after_s"],
                 row["dead_lettered"], "FAIL: " + "; ".join(row["failures"]) if row["failures"] else "ok")  # fmt: skip
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def write_reliability(rows: list[dict], args) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    commit.stdout = commit.stdout or os.environ.get("CRM_CHAOS_COMMIT", "unknown")
    path = ROOT / "RELIABILITY.md"
    text = path.read_text() if path.exists() else ""
    marker = "<!-- chaos:table -->"
    run = (f"{marker}\nLast full run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip()}, "
           f"outage {args.outage:g} s, {args.writers} writers, {args.load_seconds:g} s of load per scenario.\n\n"
           f"{table(rows)}\n{marker}")  # fmt: skip
    if marker in text:
        before, _, rest = text.partition(marker)
        _, _, after = rest.partition(marker)
        text = before + run + after
    else:
        text = text + "\n" + run + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="short outages and load: one quick pass")
    parser.add_argument("--scenario", action="append", choices=list(Rehearsal.SCENARIOS), help="default: all")
    parser.add_argument("--outage", type=float, help="seconds a stopped thing stays down (default 20, short 5)")
    parser.add_argument("--load-seconds", type=float, help="load per scenario (default 30, short 10)")
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=1800, help="the whole run stops after this")
    parser.add_argument("--report", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    args.outage = args.outage or (5 if args.short else 20)
    args.load_seconds = args.load_seconds or (10 if args.short else 30)

    # Bounded in time: past the limit, SIGALRM ends the run through the same clean-up as Ctrl-C.
    def out_of_time(*_):
        raise TimeoutError(f"chaos run stopped after {args.time_limit:g}s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.alarm(int(args.time_limit))
    rows: list[dict] = []
    with PrivateInfra() as infra:
        cluster = Cluster(infra, infra.root)
        try:
            cluster.start()
            rehearsal = Rehearsal(cluster, infra, args.outage, args.load_seconds, args.writers)
            for name in args.scenario or list(Rehearsal.SCENARIOS):
                print(f"scenario {name}: {Rehearsal.SCENARIOS[name][1]}", flush=True)
                row = rehearsal.run(name)
                print(json.dumps(row), flush=True)
            rows = rehearsal.rows
        finally:
            cluster.close()
            signal.alarm(0)
            if os.environ.get("CRM_CHAOS_KEEP_LOGS"):
                for log in infra.root.glob("replica-*.log"):
                    (ROOT / "var").mkdir(exist_ok=True)
                    (ROOT / "var" / log.name).write_bytes(log.read_bytes())
    print(table(rows))
    if args.report:
        Path(args.report).write_text(json.dumps(rows, indent=1))
    if not args.short and not args.scenario:
        write_reliability(rows, args)
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
