"""`make chaos`: bad days, rehearsed. Faults are injected into the real processes under load, and
then everything is reconciled: nothing acknowledged may be lost or duplicated, reporting must
converge, and no answer may be a 5xx other than 503 with `Retry-After`.

Everything runs on loopback against a private RabbitMQ node and a private PostgreSQL cluster
(scripts/private_infra.py), never the shared ones: two launchers (scripts/run_local.py, each
supervising its processes) give two replicas of every service and of the gateway. A load generator
creates contacts, interactions, tickets, deals, document uploads and a CSV import through both
gateways, every POST with an `Idempotency-Key` and retried with it. Exit status 1 when a check fails.

    python scripts/chaos.py                    # every scenario, 20 s outages, writes RELIABILITY.md
    python scripts/chaos.py --short            # one short pass of each (what tests/chaos runs)
    python scripts/chaos.py --scenario broker-stop --scenario replica-kill
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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

from chaos_load import Load, p99, p99_recovery, pages, reconcile, reporting_totals, service_totals  # noqa: E402
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
            # A killed process is replaced by one whose imports are done (run_local.Spares); 0 measures without.
            CRM_WARM_SPARES=os.environ.get("CRM_WARM_SPARES", "1"),
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
        """Every process's `/readyz` answers 200, asked side by side (one after the other, ten readiness
        checks on loaded cores took a second, which the "ready after" column would count)."""
        urls = [
            f"http://127.0.0.1:{base + offset}/readyz"
            for base in bases or self.bases
            for offset in PORT_OFFSETS.values()
        ]
        with ThreadPoolExecutor(len(urls)) as pool:
            return all(pool.map(_answers_200, urls))

    def pids(self, service: str, replica: int | None = None) -> list[int]:
        """The processes serving `service`, one per replica, or of one replica: those listening on its
        port (the launchers' warm spares of the same service are waiting, not serving, and left alone)."""
        bases = self.bases[replica : None if replica is None else replica + 1]
        found = []
        for base in bases:
            listening = subprocess.run(["ss", "-Hltnp", f"sport = :{base + PORT_OFFSETS[service]}"],
                                       capture_output=True, text=True, timeout=10).stdout  # fmt: skip
            found += sorted({int(pid) for pid in re.findall(r"pid=(\d+)", listening)})[:1]
        return found

    def signal(self, service: str, signum: int, replicas: int | None = None, replica: int | None = None) -> list[int]:
        pids = self.pids(service, replica)[:replicas]
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


def _answers_200(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


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

    def gateway_kill_upload(self):
        """An upload streamed slowly to the first gateway, which is SIGKILLed when half of it is sent."""
        self.cut_upload = f"cut-upload-{uuid.uuid4().hex[:8]}"
        size = 4 * 1024 * 1024
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{self.cut_upload}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nquote\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.txt"\r\n'
                "Content-Type: text/plain\r\n\r\n").encode()  # fmt: skip
        tail = f"\r\n--{boundary}--\r\n".encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.cluster.bases[0], timeout=30)
        connection.putrequest("POST", "/api/v1/documents")
        for name, value in {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(head)
        chunk = b"cut off mid-upload\n" * 3449  # about 64 KiB
        sent = 0
        try:
            while sent < size // 2:
                connection.send(chunk)
                sent += len(chunk)
                time.sleep(0.01)  # slow enough that the gateway is still streaming when it dies
            self.cluster.signal("gateway", signal.SIGKILL, replica=0)
            while sent < size:
                connection.send(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the connection died with the gateway: what a client of a killed gateway sees
        finally:
            connection.close()

    SCENARIOS = {
        "replica-kill": (replica_kill, "one replica of every service and of the gateway SIGKILLed"),
        "service-down": (service_down, "every replica of interactions frozen (SIGSTOP) for the outage"),
        "broker-stop": (broker_stop, "RabbitMQ stopped for the outage, then started"),
        "broker-kill": (broker_kill, "RabbitMQ killed -9, started again after 5 s"),
        "postgres-restart": (postgres_restart, "PostgreSQL restarted (fast shutdown)"),
        "database-down": (database_down, "the contacts database refusing connections for the outage"),
        "poison-event": (poison_event, "an event reporting cannot apply published once"),
        "gateway-kill-upload": (gateway_kill_upload, "a gateway SIGKILLed with an upload half streamed through it"),
    }
    KILLS = {"replica-kill": len(SERVICES), "gateway-kill-upload": 1}  # exits a scenario causes itself

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
        ready_after = wait_seconds(self.cluster.ready, 120, step=0.1)
        time.sleep(self.load_seconds / 2)
        load.stop()
        row = {"scenario": name, "sent": load.sent, "acknowledged": len(load.acked)}
        row["statuses"] = dict(sorted(load.statuses.items()))
        row["bad_answers"] = load.bad[:5]
        row["unacknowledged"] = len(load.unacked)
        row["stuck_keys"] = len(load.stuck)
        row["in_progress_409"] = load.in_progress
        # Exits the scenario did not cause itself (replica-kill kills one process of each kind).
        row["process_exits"] = self.cluster.exits() - exits_before - self.KILLS.get(name, 0)
        row.update(reconcile(self.cluster.gateways[0], self.token, load, run))
        row["ready_after_s"] = ready_after
        row["p99_back_after_s"] = p99_recovery(load.latencies, fault_started, fault_ended, baseline)
        self.reporting_gap = {}
        row["reporting_converged_after_s"] = wait_seconds(lambda: self._converged(), 120)
        row["reporting_gap"] = self.reporting_gap  # KPI: [reporting's, the services'] when it did not converge
        row["dead_lettered"] = self._dead_lettered()
        if name == "gateway-kill-upload":
            row.update(self._after_cut_upload())
        row["failures"] = failures(row)
        self.rows.append(row)
        return row

    def _converged(self) -> bool:
        """Reporting's totals of contacts (imported rows included), interactions, tickets and deals
        equal what the services hold; the last difference seen is kept for the row."""
        gateway = self.cluster.gateways[0]
        try:
            reported, held = reporting_totals(gateway, self.token), service_totals(gateway, self.token)
        except requests.RequestException:
            return False
        self.reporting_gap = {kpi: [reported[kpi], held[kpi]] for kpi in held if reported[kpi] != held[kpi]}
        return not self.reporting_gap

    def _after_cut_upload(self) -> dict:
        """No document of the cut upload; the blobs nothing references are found by `documents.collect`
        and, once deleted, none is left; every acknowledged document's content reads back whole."""
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        gateway = self.cluster.gateways[-1]
        documents = pages(http, f"{gateway}/api/v1/documents", {"limit": 200})
        half = [d["id"] for d in documents if d["title"] == self.cut_upload]
        unreadable = [d["id"] for d in documents if http.get(f"{gateway}/api/v1/documents/{d['id']}/content",
                                                               timeout=30).status_code != 200]  # fmt: skip
        found = self._collect("--grace-hours", "0")
        self._collect("--grace-hours", "0", "--delete")
        return {"half_documents": half, "unreadable_documents": unreadable, "orphaned_blobs": found,
                "orphans_left": self._collect("--grace-hours", "0")}  # fmt: skip

    def _collect(self, *args: str) -> int:
        """`python -m documents.collect` on the cluster's database and blobs; the blobs it found."""
        env = dict(self.cluster.env, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        done = subprocess.run([sys.executable, "-m", "documents.collect", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
        print(done.stdout[-2000:], done.stderr[-2000:], flush=True)
        summary = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
        words = summary.split()
        return int(words[2]) if summary.startswith("would delete") else (int(words[1]) if words else -1)

    def _dead_lettered(self) -> int:
        from crm_kernel.deadletters import list_parked

        try:
            return len(list_parked(self.infra.rabbit.uri))
        except Exception as exc:
            print(f"could not list dead letters: {exc!r}", flush=True)
            return -1


def wait_seconds(check, seconds: float, step: float = 0.5) -> float | None:
    started = time.monotonic()
    return round(time.monotonic() - started, 1) if wait_until(check, seconds, step) else None


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
        gap = ", ".join(f"{kpi} {reported} of {held}" for kpi, (reported, held) in row.get("reporting_gap", {}).items())
        found.append(f"reporting did not converge ({gap or 'not answering'})")
    if row["ready_after_s"] is None:
        found.append("not every /readyz answered 200 again")
    if row["scenario"] == "poison-event" and row["dead_lettered"] < 1:
        found.append("the poison event was not parked")
    if row.get("half_documents"):
        found.append(f"{len(row['half_documents'])} documents of the upload cut off")
    if row.get("unreadable_documents"):
        found.append(f"{len(row['unreadable_documents'])} documents whose content does not read back")
    if row.get("orphans_left", 0) != 0:
        found.append(f"orphaned blobs left after collection: {row['orphans_left']}")
    return found


def table(rows: list[dict]) -> str:
    head = ("scenario", "sent", "acked", "client errors", "read back", "lost", "dup", "unacked", "stuck keys",
            "409 in progress", "orphaned blobs", "other exits", "ready after s", "p99 back after s",
            "reporting converged s", "dead-lettered", "result")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        errors = {k: v for k, v in row["statuses"].items() if k not in ("200", "201")}
        cells = (row["scenario"], row["sent"], row["acked_writes"], ", ".join(f"{k}: {v}" for k, v in errors.items())
                 or "none", row["read_back"], len(row["lost"]), len(row["duplicates"]), row["unacknowledged"],
                 row["stuck_keys"], row.get("in_progress_409"), row.get("orphaned_blobs"), row.get("process_exits"),
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
