"""A private RabbitMQ node and a private PostgreSQL cluster, on loopback, for fault injection.

`make chaos` and tests/chaos stop, kill and restart these; the shared broker and database of the
machine (which other people's tests use) are never touched. Each lives in a temporary directory,
listens on free ports, and is stopped and removed by `close()` (also on Ctrl-C: use it as a context
manager).
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float, up: bool = True) -> bool:
    """True once 127.0.0.1:`port` accepts connections (or, with up=False, refuses them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(1)
            if (probe.connect_ex(("127.0.0.1", port)) == 0) == up:
                return True
        time.sleep(0.2)
    return False


RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def _run_as(user: str | None, keep_env: bool = False) -> list[str]:
    if not user:
        return []
    return ["runuser", "-u", user, *(["--preserve-environment"] if keep_env else []), "--"]


class PrivateRabbit:
    """`rabbitmq-server` as a node of its own (`crm-chaos-<pid>@localhost`), management plugin off."""

    def __init__(self, root: Path):
        self.dir = root / "rabbitmq"
        self.dir.mkdir(parents=True)
        # The Debian package runs its nodes as the rabbitmq user, whose files these become.
        self.user = "rabbitmq" if os.geteuid() == 0 else None
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"crm-chaos-{os.getpid()}-{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n")
        self.env = dict(
            os.environ,
            HOME=str(self.dir),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
            RABBITMQ_SERVER_START_ARGS=f"-kernel inet_dist_listen_min {self.dist_port} "
            f"-kernel inet_dist_listen_max {self.dist_port}",
        )
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, seconds: float = 60) -> None:
        if self.user:
            subprocess.run(["chown", "-R", self.user, str(self.dir)], check=True)
        subprocess.run(
            [*_run_as(self.user, keep_env=True), RABBITMQ_BIN / "rabbitmq-server", "-detached"],
            env=self.env,
            check=True,
            capture_output=True,
            cwd=self.dir,
        )
        if not wait_for_port(self.port, seconds):
            raise RuntimeError(f"the private RabbitMQ did not listen on {self.port}; see {self.dir / 'log'}")

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.dir / "rabbitmq.pid").read_text().strip())
        return None

    def stop(self) -> None:
        """A clean stop (what an operator's restart does): SIGTERM, which RabbitMQ shuts down on."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """kill -9 of the node's Erlang VM: no goodbye to any client."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        pid = self.pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.2)
        wait_for_port(self.port, 30, up=False)

    def close(self) -> None:
        if wait_for_port(self.port, 0.5):
            self.stop()
        if wait_for_port(self.port, 0.5):
            self.kill()
        # epmd stays for other nodes of the machine; this node is gone.


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary directory), trust on loopback."""

    def __init__(self, root: Path):
        self.dir = root / "postgres"
        self.port = free_port()
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise RuntimeError("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
        self.bin = Path(binaries[-1])
        # initdb refuses to run as root: the cluster belongs to the postgres user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir.mkdir(parents=True)
        if self.user:
            shutil.chown(root, self.user)
            shutil.chown(self.dir, self.user)
        self.data = self.dir / "data"
        # No driver named: the services take the project's (`CRM_PG_DRIVER`, psycopg2 by default), so the
        # rehearsal runs on what production runs.
        self.url_base = f"postgresql://postgres@127.0.0.1:{self.port}"

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*_run_as(self.user), *args], check=check, capture_output=True, text=True, timeout=120, cwd="/"
        )

    def start(self) -> None:
        if not self.data.exists():
            self._pg(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._pg(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def sql(self, statement: str) -> None:
        psql = str(self.bin / "psql")
        self._pg(psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", statement)

    def create_database(self, name: str) -> str:
        self._pg(str(self.bin.parent / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                 "-c", f'CREATE DATABASE "{name}"')  # fmt: skip
        return f"{self.url_base}/{name}"

    def close(self) -> None:
        if self.data.exists():
            self.stop(mode="immediate")


class PrivateInfra:
    """Both, in one temporary directory removed at the end."""

    def __init__(self, postgres: bool = True):
        self.root = Path(tempfile.mkdtemp(prefix="crm-chaos-"))
        os.chmod(self.root, 0o755)  # noqa: S103 (the broker and database run as their own users)
        self.rabbit = PrivateRabbit(self.root)
        self.postgres = PrivatePostgres(self.root) if postgres else None

    def __enter__(self):
        try:
            self.rabbit.start()
            if self.postgres:
                self.postgres.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for part in (self.rabbit, self.postgres):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        shutil.rmtree(self.root, ignore_errors=True)
