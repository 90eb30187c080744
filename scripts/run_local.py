"""`make run`: the whole system on this machine, with its embedded defaults.

Makes sure RabbitMQ answers, migrates each service's database (SQLite files under `var/` unless
`<SERVICE>_DATABASE_URL` is set), starts the four services and the gateway as separate processes,
creates the first admin, and prints the gateway URL. A process that exits is restarted (at once,
then with backoff), as Kubernetes would. Ctrl-C stops everything cleanly.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]

from ensure_infra import ensure_rabbitmq  # noqa: E402

from crm_kernel.topology import SERVICE_CLASSES  # noqa: E402

PORT_OFFSETS = {"gateway": 0, "contacts": 1, "interactions": 2, "documents": 3, "reporting": 4}


def main() -> int:
    base_port = int(os.environ.get("CRM_PORT", "8000"))
    env = dict(os.environ)
    # Each service is a folder of its own; the processes find the packages through PYTHONPATH.
    code_paths = [ROOT, ROOT / "gateway", *(ROOT / "services" / name for name in SERVICE_CLASSES if name != "gateway")]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, code_paths), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("CRM_VAR_DIR", str(ROOT / "var"))
    env.setdefault("DOCUMENTS_URL", f"http://127.0.0.1:{base_port + PORT_OFFSETS['documents']}")
    env.setdefault("CONTACTS_URL", f"http://127.0.0.1:{base_port + PORT_OFFSETS['contacts']}")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    # Every address here is an IP or `localhost`: eventlet's green resolver (dnspython, half a second
    # of every process start) buys nothing, and a restart after a crash is ready that much sooner.
    env.setdefault("EVENTLET_NO_GREENDNS", "yes")
    python = sys.executable

    ensure_rabbitmq()
    subprocess.run([python, "-m", "crm_kernel.migrations"], env=env, check=True)

    def start_process(name: str, spare: bool = False) -> subprocess.Popen:
        process_env = dict(env, WEB_SERVER_ADDRESS=listen_address(base_port + PORT_OFFSETS[name]))
        run = [python, "-m", "nameko", "run"] if not spare else [python, str(ROOT / "scripts" / "warm_start.py")]
        return subprocess.Popen(
            [*run, "--config", str(ROOT / "config.yaml"), SERVICE_CLASSES[name]],
            env=process_env,
            cwd=ROOT,
            stdin=subprocess.PIPE if spare else None,
        )

    processes = {name: start_process(name) for name in SERVICE_CLASSES}
    spares = Spares(lambda name: start_process(name, spare=True)) if env.get("CRM_WARM_SPARES") == "1" else None

    def restart(name: str) -> subprocess.Popen:
        return (spares and spares.take(name)) or start_process(name)

    def stop(*_, code=0):
        if spares:
            spares.close()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        print("stopped", flush=True)
        sys.exit(code)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    if not wait_ready(processes, base_port) or subprocess.run([python, "-m", "gateway.bootstrap"], env=env).returncode:
        stop(code=1)
    print(f"CRM gateway ready at http://127.0.0.1:{base_port}/api/v1 (Ctrl-C stops everything)", flush=True)
    if spares:
        spares.fill(SERVICE_CLASSES)
    supervise(processes, restart)


def supervise(
    processes: dict,
    start_process,
    max_backoff: float = 30.0,
    stable_after: float = 60.0,
    clock=time.monotonic,
    sleep=time.sleep,
    rounds: int | None = None,
    poll_every: float = 0.1,
) -> None:
    """Restart any process that exits, as Kubernetes would, until the launcher itself is stopped.

    One process that exits (killed, or given up on its broker) must not stop the whole system. The
    first exit is restarted at once (a crash is usually a one-off, and readiness after it counts);
    one that keeps exiting is restarted after 1, 2, 4, ... seconds (at most `max_backoff`); one that
    ran for `stable_after` seconds starts again from at once. Exits are noticed within `poll_every`.
    (`clock`, `sleep` and `rounds` are for tests.)
    """
    started = {name: clock() for name in processes}
    exits_in_a_row = dict.fromkeys(processes, 0)
    due: dict[str, float] = {}
    while rounds is None or rounds > 0:
        rounds = None if rounds is None else rounds - 1
        now = clock()
        for name, process in processes.items():
            if name in due or process.poll() is None:
                continue
            ran = now - started[name]
            if ran >= stable_after:
                exits_in_a_row[name] = 0
            delay = 0.0 if exits_in_a_row[name] == 0 else min(max_backoff, 2.0 ** (exits_in_a_row[name] - 1))
            exits_in_a_row[name] += 1
            due[name] = now + delay
            print(f"{name} exited with {process.returncode} after {ran:.0f}s; restarting in {delay:.0f}s", flush=True)
        for name in [name for name, at in due.items() if at <= now]:
            del due[name]
            processes[name] = start_process(name)
            started[name] = clock()
        sleep(poll_every)


class Spares:
    """With `CRM_WARM_SPARES=1`, one process per service started ahead of need (scripts/warm_start.py):
    its imports, most of the CPU a start costs, are done, and it waits on its stdin. A restart takes
    it, and is ready in a fraction of a second instead of seconds (several at once on two loaded
    cores: many seconds); a new spare is made `refill_after` seconds later, so as not to compete with
    the restart. Off by default: each spare holds about 90 MB."""

    def __init__(self, spawn, refill_after: float = 10.0):
        self.spawn = spawn
        self.refill_after = refill_after
        self.waiting: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.closed = False

    def fill(self, names) -> None:
        for name in names:
            self._make(name)

    def take(self, name: str) -> subprocess.Popen | None:
        """The spare of `name` told to run (None when there is none alive), and a new one due."""
        with self.lock:
            spare = self.waiting.pop(name, None)
        timer = threading.Timer(self.refill_after, self._make, args=(name,))
        timer.daemon = True
        timer.start()
        if spare is None or spare.poll() is not None:
            return None
        try:
            spare.stdin.write(b"run\n")
            spare.stdin.close()
        except OSError:
            return None
        return spare

    def close(self) -> None:
        """End every waiting spare: end of its input makes it exit."""
        with self.lock:
            self.closed = True
            waiting, self.waiting = list(self.waiting.values()), {}
        for spare in waiting:
            try:
                spare.stdin.close()
                spare.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                spare.kill()

    def _make(self, name: str) -> None:
        with self.lock:
            if self.closed or name in self.waiting:
                return
            self.waiting[name] = self.spawn(name)


def listen_address(port: int) -> str:
    """Where a process listens: this machine only (127.0.0.1), unless `CRM_BIND_HOST` says otherwise."""
    return f"{os.environ.get('CRM_BIND_HOST') or '127.0.0.1'}:{port}"


def wait_ready(processes: dict, base_port: int, seconds: float = 90) -> bool:
    """Poll each process's /readyz until all answer 200, one exits, or time runs out."""
    deadline = time.monotonic() + seconds
    waiting = set(processes)
    while waiting and time.monotonic() < deadline:
        for name in sorted(waiting):
            if processes[name].poll() is not None:
                print(f"{name} exited during start-up with {processes[name].returncode}", flush=True)
                return False
            try:
                url = f"http://127.0.0.1:{base_port + PORT_OFFSETS[name]}/readyz"
                if requests.get(url, timeout=2).status_code == 200:
                    waiting.discard(name)
            except requests.RequestException:
                pass
        time.sleep(0.3)
    if waiting:
        print(f"not ready after {seconds:.0f}s: {', '.join(sorted(waiting))}", flush=True)
    return not waiting


if __name__ == "__main__":
    sys.exit(main())
