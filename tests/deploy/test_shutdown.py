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


def test_a_service_started_with_nameko_run_exits_0_on_sigterm_within_the_grace_period(make_vhost, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "AMQP_URI": make_vhost(),
        "REPORTING_DATABASE_URL": f"sqlite:///{tmp_path / 'reporting.db'}",
        "CRM_VAR_DIR": str(tmp_path),
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "PYTHONPATH": os.pathsep.join(map(str, [ROOT, ROOT / "gateway", *SERVICE_FOLDERS])),
    }
    subprocess.run([sys.executable, "-m", "crm_kernel.migrations", "reporting"], env=env, check=True, timeout=60)
    log = (tmp_path / "reporting.log").open("w")
    command = [sys.executable, "-m", "nameko", "run", "--config", "config.yaml", SERVICE_CLASSES["reporting"]]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=GRACE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "reporting.log").read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
