"""A service process killed with SIGKILL: the RPCs sent while it is down wait in RabbitMQ and are
served, each once, when it comes back; an import it was running fails once its lease passes."""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import eventlet
import eventlet.event
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcClient

from crm_kernel.scope import SCOPE, Scope
from crm_kernel.signing import signed_headers


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = [ROOT, *(ROOT / folder for folder in ("gateway", "services/contacts", "services/interactions"))]
PYTHONPATH += [ROOT / "services/documents", ROOT / "services/reporting"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ContactsProcess:
    """`nameko run` of the contacts service, as the launcher starts it, on a port of its own."""

    def __init__(self, log: Path):
        self.port, self.log, self.process = free_port(), log, None
        self.env = dict(
            os.environ,
            WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}",
            PYTHONPATH=os.pathsep.join(str(path) for path in PYTHONPATH),
            PYTHONWARNINGS="ignore::DeprecationWarning",
        )

    def start(self) -> None:
        with self.log.open("ab") as output:
            command = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yaml")]
            self.process = subprocess.Popen(
                [*command, "contacts.service:ContactsService"], env=self.env, cwd=ROOT, stdout=output, stderr=output
            )
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the contacts service did not get ready"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def contacts_process(prepared, tmp_path):
    prepared("contacts")  # its own SQLite database (CONTACTS_DATABASE_URL) and event queues
    service = ContactsProcess(tmp_path / "contacts.log")
    yield service
    if service.process is not None and service.process.poll() is None:
        service.process.terminate()
        service.process.wait(timeout=30)


def test_rpcs_sent_while_a_killed_service_is_down_are_served_once_when_it_is_back(contacts_process, rabbit_config):
    contacts_process.start()
    contacts_process.kill()
    names = [f"Queued{n}" for n in range(3)]

    with ClusterRpcClient(uri=rabbit_config["AMQP_URI"], timeout=90, context_data=system()) as cluster:
        waiting = [
            cluster.contacts.create_contact.call_async({"first_name": name, "emails": [f"{name.lower()}@example.com"]})
            for name in names
        ]
        contacts_process.start()
        created = [reply.result() for reply in waiting]
        listed = cluster.contacts.list_contacts({"limit": 50})["items"]

    assert [contact["first_name"] for contact in created] == names
    assert sorted(contact["first_name"] for contact in listed) == names  # each served once


def test_an_import_whose_process_was_killed_fails_when_its_lease_passes_and_can_then_be_undone(
    contacts_process, rabbit_config
):
    key = secrets.token_hex(32)
    contacts_process.env.update(CRM_INTERNAL_KEY=key, CRM_IMPORT_LEASE_SECONDS="2", CRM_IMPORT_SWEEP_SECONDS="0.5")
    contacts_process.start()
    url = f"http://127.0.0.1:{contacts_process.port}"
    release = eventlet.event.Event()

    def a_file_still_uploading():
        yield b"first_name,email\n" + b"".join(f"P{n},p{n}@example.com\n".encode() for n in range(100))
        release.wait()  # the rest never comes before the process dies

    def signed(path: str) -> dict:
        return signed_headers(key.encode(), "POST", path, Scope.system(), actor="u-importer")

    upload = eventlet.spawn(
        requests.post, f"{url}/import", data=a_file_still_uploading(), headers=signed("/import"), timeout=60
    )
    with ClusterRpcClient(uri=rabbit_config["AMQP_URI"], timeout=30, context_data=system()) as cluster:
        [running] = wait_for(lambda: cluster.contacts.list_imports({})["items"], "the import to be recorded")
        contacts_process.kill()
        release.send(True)
        with contextlib.suppress(requests.RequestException):
            upload.wait()
        contacts_process.start()
        failed = wait_for(
            lambda: (found := cluster.contacts.get_import(running["id"]))["status"] != "running" and found,
            "the sweep to take the import as interrupted",
        )

    path = f"/imports/{running['id']}/undo"
    undone = requests.post(f"{url}{path}", headers=signed(path), timeout=60)

    assert running["status"] == "running"
    assert (failed["status"], failed["problem"].split(":")[0]) == ("failed", "interrupted")
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "undone"


def wait_for(probe, what: str, seconds: float = 60):
    """What `probe` gives once it is truthy; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (found := probe()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)
    return found
