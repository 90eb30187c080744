"""The whole system, started by the same launcher as `make run` (scripts/run_local.py), for tests that
drive it from outside: over HTTP (tests/e2e) or in a browser (tests/browser)."""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
ADMIN = {"email": "admin@e2e.example.com", "password": "an-admin-password-for-tests"}
SERVICES = ("contacts", "interactions", "documents", "reporting", "gateway")


def free_port_base() -> int:
    for _ in range(50):
        base = random.randrange(12000, 30000, 10)  # below the ephemeral range of outgoing connections
        if all(_port_free(base + offset) for offset in range(5)):
            return base
    raise RuntimeError("no five free consecutive ports")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


HTTP_TIMEOUT = (5, 60)  # seconds to connect, seconds between bytes: a hung gateway fails the test


class TimedSession(requests.Session):
    """A requests session whose every call has a timeout unless the caller gives one."""

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(method, url, **kwargs)


class System:
    def __init__(self, base_url: str, process: subprocess.Popen, log: Path):
        self.base_url = base_url
        self.process = process
        self.log = log
        self.http = TimedSession()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def token(self, email=ADMIN["email"], password=ADMIN["password"]) -> str:
        response = self.http.post(self.url("/api/v1/auth/token"), json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def client(self, token: str | None = None) -> requests.Session:
        session = TimedSession()
        session.headers["Authorization"] = f"Bearer {token or self.token()}"
        return session


@contextmanager
def launched(var_dir: Path, amqp_uri: str, **env_overrides: str):
    """Runs `scripts/run_local.py` with its state in `var_dir` until the block ends, then stops it with
    Ctrl-C and checks that it stopped cleanly. `env_overrides` are added to the environment."""
    base = free_port_base()
    env = dict(
        os.environ,
        CRM_PORT=str(base),
        CRM_VAR_DIR=str(var_dir),
        AMQP_URI=amqp_uri,
        CRM_ADMIN_EMAIL=ADMIN["email"],
        CRM_ADMIN_PASSWORD=ADMIN["password"],
        CRM_SECRET_KEY="e2e-secret-key-that-is-long-enough-for-hs256",
        CRM_RPC_TIMEOUT="5",
        # The suites make many requests per token; the limiter itself is tested in tests/unit.
        CRM_RATE_LIMIT_PER_MINUTE="100000",
        CRM_RATE_LIMIT_BURST="100000",
        # As behind an ingress on this host: X-Forwarded-For names the client (tests/e2e/test_hardening.py).
        CRM_TRUSTED_PROXIES="127.0.0.1",
    )
    env.update(env_overrides)
    log = var_dir / "system.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run_local.py")], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    running = System(f"http://127.0.0.1:{base}", process, log)
    try:
        wait_until_ready(running)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "killed"
    assert code == 0, f"the launcher did not stop cleanly ({code}); see {log}"


def process_serving(port: int) -> int:
    """The pid of the service process the launcher started on `port`."""
    wanted = f"WEB_SERVER_ADDRESS=127.0.0.1:{port}".encode()  # make run listens on this machine only
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no process serves port {port}")


def wait_until_ready(system: System, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert system.process.poll() is None, (
            f"the launcher exited; see {system.log}:\n{system.log.read_text()[-3000:]}"
        )
        if b"ready at" in system.log.read_bytes():
            return
        time.sleep(0.2)
    raise AssertionError(f"not ready within {seconds}s; see {system.log}")
