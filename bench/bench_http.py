"""The path people feel, over HTTP on PostgreSQL: the project's gateway beside a naive Nameko gateway.

    make bench                                             # 1,000,000 contacts, 15 s per measurement
    .venv/bin/python bench/bench_http.py --rows 100000 --seconds 10

In a throw-away RabbitMQ virtual host and five throw-away PostgreSQL databases: imports N generated
contacts straight into the contacts database (as `bench_contacts.py` does) and marks their events
sent, so reporting stays idle; starts the system as `make run` does (`scripts/run_local.py`) and the
naive baseline of `naive_services.py` (a bare `@http` route; a route making one RPC that returns a
fixed dict: the shape of nameko-examples) in the same run; then drives each with wrk (Debian:
`apt-get install wrk`) at 1 and 16 connections: the naive routes, `GET /healthz`, `GET /contacts/{id}`,
the first page of the list and of a search, `POST /contacts` (without and with an `Idempotency-Key`)
and `POST /interactions`. With
`--replicas`, it measures again with a second gateway and a second contacts process (two wrk, one
per gateway, half the connections each: how Kubernetes would spread them). Prints Markdown tables
for BENCHMARKS.md; ratios are within this one run.
"""

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("contacts", "interactions", "documents", "reporting", "gateway")
CODE_PATHS = [ROOT, ROOT / "gateway", *(ROOT / "services" / name for name in SERVICES if name != "gateway")]
sys.path[:0] = [*map(str, CODE_PATHS), str(Path(__file__).parent)]

import requests  # noqa: E402
from bench_contacts import bench_import  # noqa: E402
from generated_contacts import last_names  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from throwaway import DRIVERS, driver  # noqa: E402
from throwaway import admin as pg_admin  # noqa: E402
from throwaway import url as database_url  # noqa: E402

from crm_kernel.migrations import upgrade  # noqa: E402

BROKER = os.environ.get("CRM_BENCH_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
ADMIN = {"email": "admin@bench.example.com", "password": "a-bench-admin-password"}
POST_CONTACT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
n = 0
request = function()
  n = n + 1
  local body = string.format('{"first_name": "Load", "last_name": "Bench%d", "emails": ["load.%d.%d@example.com"]}',
    n, n, math.random(1000000000))
  return wrk.format(nil, nil, nil, body)
end
"""
# The same creates, each with an Idempotency-Key of its own (what a client that retries sends): the
# gateway claims the key and stores the answer, the service records it with the write.
POST_CONTACT_KEYED = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
n = 0
request = function()
  n = n + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Idempotency-Key"] = string.format("RUN-%d-%d", tid, n)
  local body = string.format('{"first_name": "Keyed", "last_name": "B%d", "emails": ["keyed.RUN.%d.%d@example.com"]}',
    n, tid, n)
  return wrk.format(nil, nil, headers, body)
end
"""
POST_INTERACTION = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"contact_id": "%s", "channel": "call", "direction": "outbound", '
  .. '"occurred_at": "2026-03-02T10:00:00+00:00"}'
"""


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)  # noqa: S603, S607


def started(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: S603


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)  # a benchmark waiting for processes to start, not a test
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def wrk(url: str, connections: int, seconds: int, token: str | None, script: str | None) -> dict:
    """Requests a second, p99 latency (ms) and non-2xx answers of one wrk run."""
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    command += ["-s", lua.name, url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    os.unlink(lua.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rate": rate, "p99": p99, "errors": int(errors.group(1)) if errors else 0}


def measure(targets: list[tuple], connections: list[int], seconds: int, token: str) -> dict:
    results = {}
    for name, url, script, authenticated in targets:
        for count in connections:
            # A prefix of its own for each run's Idempotency-Keys (and e-mails), so no run replays another's.
            run_script = script.replace("RUN", uuid.uuid4().hex[:12]) if script else script
            results[(name, count)] = wrk(url, count, seconds, token if authenticated else None, run_script)
            print(f"  {name} at {count}: {results[(name, count)]}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="contacts in the database (default 1,000,000)")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each wrk run")
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--replicas", action="store_true", help="also measure two gateways and two contacts")
    parser.add_argument("--only", default="", help="measure only the requests whose names contain this")
    parser.add_argument("--port", type=int, default=18600, help="first of the ports the processes listen on")
    parser.add_argument("--driver", choices=DRIVERS, default=driver(), help="PostgreSQL driver of every process")
    args, _ = parser.parse_known_args()  # `make bench` passes every benchmark the same BENCH_ARGS
    os.environ["CRM_BENCH_PG_DRIVER"] = os.environ["CRM_PG_DRIVER"] = args.driver
    if shutil.which("wrk") is None:
        print("bench_http.py skipped: wrk is not installed (Debian: apt-get install wrk)")
        return 0
    connections = [int(count) for count in args.connections.split(",")]
    tag = uuid.uuid4().hex[:8]
    vhost, var = f"crm-bench-{tag}", Path(tempfile.mkdtemp(prefix="crm-bench-http-"))
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    base, naive_port = args.port, args.port + 10
    env = dict(
        os.environ,
        AMQP_URI=f"{BROKER}/{vhost}",
        CRM_PORT=str(base),
        CRM_VAR_DIR=str(var),
        CRM_ADMIN_EMAIL=ADMIN["email"],
        CRM_ADMIN_PASSWORD=ADMIN["password"],
        CRM_SECRET_KEY=f"bench-secret-key-{uuid.uuid4().hex}",
        CRM_RATE_LIMIT_PER_MINUTE="100000000",
        CRM_RATE_LIMIT_BURST="100000000",
        LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore::DeprecationWarning",
        PYTHONPATH=os.pathsep.join(map(str, CODE_PATHS)),
    )
    databases = {service: f"crm_bench_http_{service}_{tag}" for service in SERVICES}
    processes: list[subprocess.Popen] = []
    log = var / "processes.log"
    try:
        for service, name in databases.items():
            pg_admin(f'CREATE DATABASE "{name}"')
            url = database_url(name)
            env[f"{service.upper()}_DATABASE_URL"] = url
            upgrade(service, url)
        contacts = create_engine(env["CONTACTS_DATABASE_URL"])
        print(f"importing {args.rows:,} contacts ...", flush=True)
        bench_import(contacts, args.rows, 4000)
        with contacts.begin() as connection:  # published long ago, as far as this run is concerned
            connection.execute(text("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL"))
        with contacts.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        contacts.dispose()
        processes.append(started([sys.executable, str(ROOT / "scripts" / "run_local.py")], env, log))
        nameko = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yaml")]
        naive_env = env | {"PYTHONPATH": str(Path(__file__).parent), "WEB_SERVER_ADDRESS": f"127.0.0.1:{naive_port}"}
        processes.append(
            started([*nameko, "naive_services:NaiveBackend"], naive_env | {"WEB_SERVER_ADDRESS": "127.0.0.1:0"}, log)
        )
        processes.append(started([*nameko, "naive_services:NaiveGateway"], naive_env, log))
        api, naive = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{naive_port}"
        wait_for(f"{api}/readyz", 180)
        while b"ready at" not in log.read_bytes():  # the launcher creates the admin after /readyz
            time.sleep(0.5)
        wait_for(f"{naive}/bare")
        token = requests.post(f"{api}/api/v1/auth/token", json=ADMIN, timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        contact_id = requests.get(f"{api}/api/v1/contacts?limit=1", headers=auth, timeout=10).json()["items"][0]["id"]
        created = requests.post(
            f"{api}/api/v1/contacts", json={"first_name": "Ivan", "last_name": "Petrov"}, headers=auth, timeout=10
        ).json()["id"]
        search = last_names()[0][:5].lower()
        targets = [
            ("naive bare route", f"{naive}/bare", None, False),
            ("naive one-RPC route", f"{naive}/items/{uuid.uuid4().hex}", None, False),
            ("GET /healthz", f"{api}/healthz", None, False),
            ("GET /contacts/{id}", f"{api}/api/v1/contacts/{contact_id}", None, True),
            ("GET /contacts?limit=50", f"{api}/api/v1/contacts?limit=50", None, True),
            (f"GET /contacts?q={search}&limit=50", f"{api}/api/v1/contacts?q={search}&limit=50", None, True),
            ("POST /contacts", f"{api}/api/v1/contacts", POST_CONTACT, True),
            ("POST /contacts with Idempotency-Key", f"{api}/api/v1/contacts", POST_CONTACT_KEYED, True),
            ("POST /interactions", f"{api}/api/v1/interactions", POST_INTERACTION % created, True),
        ]
        targets = [target for target in targets if target[0].startswith("naive") or args.only in target[0]]
        print("measuring one process each ...", flush=True)
        single = measure(targets, connections, args.seconds, token)
        doubled = {}
        if args.replicas:
            second = env | {"WEB_SERVER_ADDRESS": f"127.0.0.1:{base + 5}"}
            processes.append(started([*nameko, "gateway.service:GatewayService"], second, log))
            contacts_env = env | {"WEB_SERVER_ADDRESS": f"127.0.0.1:{base + 6}"}
            processes.append(started([*nameko, "contacts.service:ContactsService"], contacts_env, log))
            wait_for(f"http://127.0.0.1:{base + 5}/readyz")
            wait_for(f"http://127.0.0.1:{base + 6}/readyz")
            print("measuring two gateways and two contacts ...", flush=True)
            spread = ("GET /healthz", "GET /contacts/{id}", "POST /contacts")
            for name, url, script, _ in (target for target in targets if target[0] in spread):
                count = max(connections)
                other = url.replace(f":{base}/", f":{base + 5}/")
                with ThreadPoolExecutor(2) as pool:  # both gateways at the same time
                    runs = [
                        pool.submit(wrk, target, count // 2, args.seconds, token, script) for target in (url, other)
                    ]
                    outputs = [run.result() for run in runs]
                doubled[name] = {
                    "rate": sum(output["rate"] for output in outputs),
                    "p99": max(output["p99"] for output in outputs),
                    "errors": sum(output["errors"] for output in outputs),
                }
                print(f"  {name} over two: {doubled[name]}", flush=True)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if process is processes[0] else signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in databases.values():
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        rabbitmqctl("delete_vhost", vhost)
    report(single, doubled, connections, args)
    return 0


def report(single: dict, doubled: dict, connections: list[int], args) -> None:
    machine = f"{platform.python_version()}, {os.cpu_count()} CPUs"
    print(f"\n## HTTP ({args.rows:,} contacts, {args.seconds} s per run, {args.driver}, {machine})\n")
    header = " | ".join(f"{count} conn. req/s | p99 ms" for count in connections)
    print(f"| request | {header} | ratio at {max(connections)} |")
    print("| --- |" + " --- | --- |" * len(connections) + " --- |")
    baseline = {"GET /healthz": "naive bare route", "GET /contacts/{id}": "naive one-RPC route"}
    names = list(dict.fromkeys(name for name, _ in single))
    for name in names:
        cells = " | ".join(f"{single[(name, c)]['rate']:,.0f} | {single[(name, c)]['p99']:.0f}" for c in connections)
        errors = sum(single[(name, c)]["errors"] for c in connections)
        ratio = ""
        if name in baseline:
            ratio = (
                f"x{single[(name, max(connections))]['rate'] / single[(baseline[name], max(connections))]['rate']:.2f}"
            )
        print(f"| {name}{f' ({errors} non-2xx)' if errors else ''} | {cells} | {ratio} |")
    if doubled:
        print(f"\n| request at {max(connections)} connections | one gateway and one contacts | two of each | ratio |")
        print("| --- | --- | --- | --- |")
        for name, result in doubled.items():
            alone = single[(name, max(connections))]
            ratio = result["rate"] / alone["rate"]
            print(f"| {name} | {alone['rate']:,.0f} req/s | {result['rate']:,.0f} req/s | x{ratio:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
