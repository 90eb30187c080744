"""The contacts import as a client meets it: one CSV file through the public HTTP API, on PostgreSQL.

    make bench                                             # every benchmark, 1,000,000 rows here
    .venv/bin/python bench/bench_import_http.py --rows 200000

Starts the whole system with `scripts/run_local.py` (gateway, four services) on throw-away PostgreSQL
databases and a throw-away RabbitMQ virtual host, then uploads a generated CSV (written by a client
process as it is sent, chunked, never held in memory) to `POST /api/v1/contacts/import`. Measures
rows/s end to end, the peak memory of the gateway and of the contacts service (with its checker child),
and counts: the report's `rows` and `created` against the rows sent and the contacts stored.
Connection: CRM_BENCH_PG_USER / _HOST / _PORT (default postgres@127.0.0.1:5432, trust auth).
"""

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from throwaway import DRIVERS, connect, driver
from throwaway import admin as pg
from throwaway import url as database_url

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("contacts", "interactions", "documents", "reporting", "gateway")
ADMIN = {"email": "bench@example.com", "password": "a-bench-admin-password"}


def free_port_base() -> int:
    for base in range(31000, 39000, 10):
        if all(socket.socket().connect_ex(("127.0.0.1", base + n)) != 0 for n in range(5)):
            return base
    raise RuntimeError("no five free ports")


def children(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and of its children it has waited for (the checker), user and system."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_by_part(launcher: int, tag: str) -> dict[str, float]:
    """CPU seconds so far of each service process (with its children) and of the PostgreSQL backends
    serving this run's databases: under load, what the import costs, whatever the wall clock says."""
    parts = dict.fromkeys((*SERVICES, "postgresql"), 0.0)
    for pid in children(launcher):
        for name in SERVICES:
            if f"{name}.service:" in command_line(pid):
                parts[name] += cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and f"_{tag} " in command_line(int(entry.name)) + " ":
            parts["postgresql"] += cpu_seconds(int(entry.name))
    return parts


class MemoryWatch(threading.Thread):
    """Samples the resident memory of the gateway and of the contacts service with its children."""

    def __init__(self, launcher: int):
        super().__init__(daemon=True)
        self.launcher, self.peaks, self.running = launcher, {"gateway": 0.0, "contacts": 0.0}, True

    def run(self) -> None:
        while self.running:
            processes = children(self.launcher)
            for name in self.peaks:
                tops = [p for p in processes if f"{name}.service:" in command_line(p)]
                total = sum(rss_mb(p) + sum(rss_mb(c) for c in children(p)) for p in tops)
                self.peaks[name] = max(self.peaks[name], total)
            time.sleep(0.25)


def generated(rows: int):
    """The generated CSV in 64 KiB pieces, from a client process writing it as it is read."""
    command = [sys.executable, str(ROOT / "bench" / "generated_contacts.py"), str(rows)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our own script
    try:
        while chunk := client.stdout.read(65536):
            yield chunk
    finally:
        client.stdout.close()
        client.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--driver", choices=DRIVERS, default=driver(), help="PostgreSQL driver of every process")
    args, _ = parser.parse_known_args()  # `make bench` passes every benchmark the same BENCH_ARGS
    os.environ["CRM_BENCH_PG_DRIVER"] = os.environ["CRM_PG_DRIVER"] = args.driver
    tag = uuid.uuid4().hex[:8]
    vhost = f"crm-bench-{tag}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)  # noqa: S603, S607
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True)  # noqa: S603, S607
    databases = {service: f"crm_bench_{service}_{tag}" for service in SERVICES}
    for name in databases.values():
        pg(f'CREATE DATABASE "{name}"')
    base = free_port_base()
    var_dir = tempfile.mkdtemp(prefix="crm-bench-")
    env = dict(
        os.environ,
        CRM_PORT=str(base),
        CRM_VAR_DIR=var_dir,
        AMQP_URI=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        CRM_ADMIN_EMAIL=ADMIN["email"],
        CRM_ADMIN_PASSWORD=ADMIN["password"],
        CRM_SECRET_KEY=f"bench-secret-key-{uuid.uuid4().hex}",
        **{f"{s.upper()}_DATABASE_URL": database_url(db) for s, db in databases.items()},
    )
    log = Path(var_dir) / "system.log"
    with log.open("wb") as output:
        launcher = subprocess.Popen(  # noqa: S603 - our own launcher
            [sys.executable, str(ROOT / "scripts" / "run_local.py")], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 180
        while b"ready at" not in log.read_bytes():
            if launcher.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the system did not start; see {log}")
            time.sleep(0.2)
        api = f"http://127.0.0.1:{base}/api/v1"
        token = requests.post(f"{api}/auth/token", json=ADMIN, timeout=30).json()["access_token"]
        watch = MemoryWatch(launcher.pid)
        watch.start()
        print(f"uploading {args.rows:,} generated contacts through {api}/contacts/import ...", flush=True)
        cpu_before = cpu_by_part(launcher.pid, tag)
        started = time.perf_counter()
        response = requests.post(
            f"{api}/contacts/import",
            data=generated(args.rows),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
            timeout=7200,
        )
        seconds = time.perf_counter() - started
        cpu_after = cpu_by_part(launcher.pid, tag)
        load = os.getloadavg()[0]
        watch.running = False
        watch.join()
        if response.status_code != 200:
            raise SystemExit(f"import failed: {response.status_code} {response.text[:500]}")
        report = response.json()
        stored = connect(databases["contacts"])
        [[count]] = stored.run("SELECT count(*) FROM contacts WHERE deleted_at IS NULL")
        stored.close()
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            launcher.kill()
        for name in databases.values():
            pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)  # noqa: S603, S607
    accounted = report["created"] + report["updated"] + report["skipped"] + report["failed"] == report["rows"]
    every_row = report["rows"] == args.rows == report["created"] == count
    print(
        f"\n## contacts import through HTTP ({args.rows:,} rows, {args.driver}, "
        f"{platform.python_version()}, {os.cpu_count()} CPUs)\n"
    )
    print("| measure | value | target |\n| --- | --- | --- |")
    print(f"| import rate, end to end | {args.rows / seconds:,.0f} rows/s ({seconds:,.0f} s) | >= 5,000 rows/s |")
    print(f"| peak memory, gateway | {watch.peaks['gateway']:,.0f} MB | |")
    print(f"| peak memory, contacts service + checker | {watch.peaks['contacts']:,.0f} MB | |")
    print(f"| peak memory, both | {sum(watch.peaks.values()):,.0f} MB | <= 500 MB |")
    counts = f"{args.rows:,} / {report['rows']:,} / {report['created']:,} / {count:,}"
    print(f"| rows sent / read / created / stored | {counts} | all equal |")
    cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_after}
    spent = ", ".join(f"{part} {value:,.0f}" for part, value in cpu.items())
    print(f"| CPU seconds during the import | {spent} | |")
    print(f"| CPU per row, every part | {sum(cpu.values()) / args.rows * 1e6:,.0f} us (load average {load:.1f}) | |")
    print(f"| every row accounted for | {'yes' if accounted and every_row else 'NO'} | yes |")
    return 0 if accounted and every_row else 1


if __name__ == "__main__":
    sys.exit(main())
