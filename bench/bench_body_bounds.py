"""The gateway's memory while 300 MiB bodies arrive (issue 14, item 1).

    .venv/bin/python bench/bench_body_bounds.py        # also run by `make bench`

Starts the whole system (`scripts/run_local.py`, SQLite, a throw-away RabbitMQ virtual host made with
rabbitmqctl), then sends 300 MiB JSON bodies to `POST /api/v1/contacts` with `Idempotency-Key`:
chunked with a valid token, with `Content-Length` and a valid token, and with `Content-Length` and no
token. Prints the status, and the gateway process's resident memory (VmRSS) and peak (VmHWM) after each.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
ADMIN = {"email": "admin@bench.example.com", "password": "bench-admin-password-1"}


def body(mib: int):
    yield b'{"first_name": "'
    for _ in range(mib):
        yield b" " * MIB
    yield b'"}'


def memory(pid: str) -> str:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return f"RSS {int(fields['VmRSS'].split()[0]) // 1024} MB, peak {int(fields['VmHWM'].split()[0]) // 1024} MB"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True)  # noqa: S603, S607 - fixed arguments


def post(url: str, data, headers: dict) -> int:
    return requests.post(url, data=data, headers=headers, timeout=300).status_code


def gateway_pid(port: int) -> str:
    found = subprocess.run(["pgrep", "-f", "gateway.service:GatewayService"], capture_output=True, text=True)  # noqa: S603, S607
    (pid,) = [p for p in found.stdout.split() if f"CRM_PORT={port}".encode() in Path(f"/proc/{p}/environ").read_bytes()]
    return pid


def main() -> int:
    argparse.ArgumentParser().parse_known_args()  # `make bench` passes other benches' options
    vhost = f"crm-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    work = Path(tempfile.mkdtemp(prefix="crm-bench-bodies-"))
    port = 23000 + os.getpid() % 1000 * 5
    env = dict(
        os.environ,
        CRM_PORT=str(port),
        CRM_VAR_DIR=str(work / "var"),
        AMQP_URI=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        CRM_ADMIN_EMAIL=ADMIN["email"],
        CRM_ADMIN_PASSWORD=ADMIN["password"],
    )
    log = work / "system.log"
    with log.open("wb") as output:
        command = [sys.executable, str(ROOT / "scripts" / "run_local.py")]
        launcher = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 120
        while b"ready at" not in log.read_bytes():
            if time.monotonic() > deadline or launcher.poll() is not None:
                raise SystemExit(f"the system did not start; see {log}")
            time.sleep(0.5)
        pid = gateway_pid(port)
        base = f"http://127.0.0.1:{port}/api/v1"
        token = requests.post(f"{base}/auth/token", json=ADMIN, timeout=30).json()["access_token"]
        print("| request (300 MiB JSON body, Idempotency-Key) | status | gateway after |")
        print(f"|---|---|---|\n| before | | {memory(pid)} |")
        big = work / "body.json"
        with big.open("wb") as out:
            for part in body(300):
                out.write(part)
        authed = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        anonymous = {"Content-Type": "application/json"}
        url = f"{base}/contacts"
        print(f"| chunked, valid token | {post(url, body(300), {**authed, 'Idempotency-Key': 'a'})} | {memory(pid)} |")
        with big.open("rb") as data:
            status = post(url, data, {**authed, "Idempotency-Key": "b"})
        print(f"| Content-Length, valid token | {status} | {memory(pid)} |")
        with big.open("rb") as data:
            status = post(url, data, {**anonymous, "Idempotency-Key": "c"})
        print(f"| Content-Length, no token | {status} | {memory(pid)} |")
        big.unlink()
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
        rabbitmqctl("delete_vhost", vhost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
