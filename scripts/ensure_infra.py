"""Make sure RabbitMQ (and with --postgres, PostgreSQL) answer; start local servers where installed.

Used by `make run` and `make test`. Prints one clear line and exits 1 when it cannot help.
"""

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(0.5)
    return False


def ensure_rabbitmq() -> None:
    uri = urlparse(os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI)
    host, port = uri.hostname or "localhost", uri.port or 5672
    if reachable(host, port):
        return
    if host not in ("localhost", "127.0.0.1", "::1") or not shutil.which("rabbitmq-server"):
        sys.exit(
            f"No RabbitMQ at {host}:{port}. Install it (apt-get install rabbitmq-server) "
            "or set AMQP_URI to a running broker."
        )
    print(f"starting rabbitmq-server (none answered at {host}:{port})", flush=True)
    subprocess.run(["rabbitmq-server", "-detached"], check=False)
    if not wait_for(host, port, 90):
        sys.exit(f"rabbitmq-server was started but {host}:{port} does not answer; see /var/log/rabbitmq/")
    # The port opens before the broker accepts AMQP sessions; ask it to finish booting.
    if shutil.which("rabbitmqctl"):
        subprocess.run(["rabbitmqctl", "await_startup"], check=False, capture_output=True)


def ensure_postgres() -> None:
    if reachable("127.0.0.1", 5432):
        return
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions or not shutil.which("pg_ctlcluster"):
        sys.exit("No PostgreSQL at 127.0.0.1:5432. Install it (apt-get install postgresql) and start it.")
    print("starting PostgreSQL (none answered at 127.0.0.1:5432)", flush=True)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False)
    if not wait_for("127.0.0.1", 5432, 60):
        sys.exit("PostgreSQL was started but 127.0.0.1:5432 does not answer")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also make sure PostgreSQL answers")
    args = parser.parse_args()
    ensure_rabbitmq()
    if args.postgres:
        ensure_postgres()
