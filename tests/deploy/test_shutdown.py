"""A service process stops cleanly on SIGTERM, as Kubernetes and docker stop it."""

import os
import signal
import socket
import subprocess
import sys
import time

import requests
from manifests import ROOT

from crm_kernel.topology import SERVICE_CLASSES

SERVICE_FOLDERS = [ROOT / "services" / name for name in SERVICE_CLASSES if name != "gateway"]
GRACE_SECONDS = 30  # well inside terminationGracePeriodSeconds and compose's stop_grace_period


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(process: subprocess.Popen, url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited during start-up with {process.returncode}"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {seconds}s")


def start_reporting(amqp_uri: str, migrations_amqp_uri: str, tmp_path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "AMQP_URI": migrations_amqp_uri,
        "REPORTING_DATABASE_URL": f"sqlite:///{tmp_path / 'reporting.db'}",
        "CRM_VAR_DIR": str(tmp_path),
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "PYTHONPATH": os.pathsep.join(map(str, [ROOT, ROOT / "gateway", *SERVICE_FOLDERS])),
    }
    subprocess.run([sys.executable, "-m", "crm_kernel.migrations", "reporting"], env=env, check=True, timeout=60)
    log = (tmp_path / "reporting.log").open("w")
    command = [sys.executable, "-m", "nameko", "run", "--config", "config.yaml", SERVICE_CLASSES["reporting"]]
    process = subprocess.Popen(
        command, env={**env, "AMQP_URI": amqp_uri}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process, port


def stop_within_grace(process: subprocess.Popen, tmp_path) -> tuple[int, str]:
    try:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=GRACE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, (tmp_path / "reporting.log").read_text()


def test_a_service_started_with_nameko_run_exits_0_on_sigterm_within_the_grace_period(make_vhost, tmp_path):
    vhost = make_vhost()
    process, port = start_reporting(vhost, vhost, tmp_path)
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz")
    finally:
        code, output = stop_within_grace(process, tmp_path)
    assert code == 0, output[-3000:]
    assert "Traceback" not in output


def test_a_service_stopped_while_its_consumers_are_still_connecting_exits_0_and_was_never_ready(make_vhost, tmp_path):
    """The cause of a shutdown that once hung: the HTTP server answers before the AMQP consumers have
    connected, and a SIGTERM then left their starts waiting for ever (crm_kernel.startup). Here the
    broker never answers, so the consumers are still connecting when the signal comes."""
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there
    process, port = start_reporting(nowhere, make_vhost(), tmp_path)
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/healthz")
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    finally:
        code, output = stop_within_grace(process, tmp_path)
    assert ready.status_code == 503 and ready.json()["checks"]["started"] is False
    assert code == 0, output[-3000:]
