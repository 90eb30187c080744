"""Names of what a test run creates on the shared broker and database server, and the sweep of
what earlier runs left there when they were killed.

Several runs share one RabbitMQ and one PostgreSQL at the same time (engineers and CI on one
machine). So a name carries its creator: the host's boot id, the process id and the process's start
time (a pid is reused; the pair is not). The sweep removes only leftovers whose creator is gone;
names without that stamp (older runs) are left alone, since nothing tells whether they still run.
"""

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pg8000.native

PG_ADMIN = dict(
    user=os.environ.get("CRM_TEST_PG_USER", "postgres"),
    host=os.environ.get("CRM_TEST_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("CRM_TEST_PG_PORT", "5432")),
)
VHOST_PREFIX = "crm-test-"
DATABASE_PREFIX = "crm_t_"
TEMP_PREFIX = "crm-pytest-"


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may hold spaces


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def run_stamp() -> str:
    """`<boot>-<pid>-<start>` of this process: what a sweep reads back to tell whether it still runs."""
    return f"{_boot_id()}-{os.getpid()}-{_base36(_start_ticks(os.getpid()))}"


_STAMP = re.compile(r"([0-9a-f]{8})[-_](\d+)[-_]([0-9a-z]+)[-_]")


def creator_is_gone(name: str, prefix: str) -> bool:
    """True when `name` carries a run stamp whose process no longer runs on this host."""
    stamp = _STAMP.match(name[len(prefix) :]) if name.startswith(prefix) else None
    if stamp is None:
        return False  # not ours, or from a run before stamps: it may still be alive
    boot, pid, start = stamp.group(1), int(stamp.group(2)), stamp.group(3)
    if boot != _boot_id():
        return True  # the machine has restarted since
    ticks = _start_ticks(pid)
    return ticks is None or _base36(ticks) != start


def vhost_name() -> str:
    return f"{VHOST_PREFIX}{run_stamp()}-{uuid.uuid4().hex[:6]}"


def database_prefix() -> str:
    return f"{DATABASE_PREFIX}{run_stamp().replace('-', '_')}_{uuid.uuid4().hex[:4]}"


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=60).stdout


def vhosts() -> set[str]:
    return set(rabbitmqctl("list_vhosts", "--quiet", "--no-table-headers").split())


def databases() -> set[str]:
    admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
    try:
        return {row[0] for row in admin.run("SELECT datname FROM pg_database")}
    finally:
        admin.close()


def sweep_vhosts() -> list[str]:
    """Delete the virtual hosts of earlier runs whose process is gone (a killed run never cleans up)."""
    gone = sorted(name for name in vhosts() if creator_is_gone(name, VHOST_PREFIX))
    for name in gone:
        rabbitmqctl("delete_vhost", name)
    return gone


def sweep_databases() -> list[str]:
    """Drop the databases of earlier runs whose process is gone."""
    gone = sorted(name for name in databases() if creator_is_gone(name, DATABASE_PREFIX))
    admin = pg8000.native.Connection(database="postgres", **PG_ADMIN)
    try:
        for name in gone:
            admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
    return gone


def run_temp_dir() -> Path:
    """This run's own directory for pytest's temporary files.

    pytest's default, /tmp/pytest-of-<user>/pytest-<n>, keeps the three newest runs of the user and
    deletes older ones: with several runs at once, one run deleted another's SQLite files and logs
    under a running system.
    """
    return Path(tempfile.gettempdir()) / f"{TEMP_PREFIX}{run_stamp()}-run"


def sweep_temp_dirs() -> list[str]:
    root = Path(tempfile.gettempdir())
    gone = sorted(entry.name for entry in root.glob(f"{TEMP_PREFIX}*") if creator_is_gone(entry.name, TEMP_PREFIX))
    for name in gone:
        shutil.rmtree(root / name, ignore_errors=True)
    return gone


def rabbit_node_name() -> str:
    """The name of a private RabbitMQ node a test starts (see tests/integration/test_broker_restart.py)."""
    return f"{VHOST_PREFIX}{run_stamp()}-{uuid.uuid4().hex[:6]}"


def sweep_rabbit_nodes() -> list[str]:
    """Stop the private RabbitMQ nodes that killed runs left running (found by their names in epmd)."""
    listed = subprocess.run(["epmd", "-names"], capture_output=True, text=True, timeout=30).stdout
    names = re.findall(r"^name (\S+) at port", listed, re.MULTILINE)
    gone = sorted(name for name in names if creator_is_gone(name, VHOST_PREFIX))
    for name in gone:
        subprocess.run(["rabbitmqctl", "-n", f"{name}@localhost", "stop"], capture_output=True, timeout=120)
    return gone
