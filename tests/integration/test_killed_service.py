"""A service process killed with SIGKILL: the RPCs sent while it is down wait in RabbitMQ and are
served, each once, when it comes back; an import it was running fails once its lease passes; an
undo it was running is resumed by the next request once its lease passes, and undoes each change once."""

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
import pg8000.native
import pytest
import requests
from leftovers import PG_ADMIN
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.engine import make_url

from crm_kernel.migrations import upgrade
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


# Contacts an import renames and tags, and contacts it creates: six undo batches, the first three of
# renamed ones (ids grow with time), the others of created ones.
PEOPLE, NEW = 3000, 3000


def test_an_undo_killed_part_way_is_resumed_after_its_lease_and_undoes_every_change_once(
    contacts_process, rabbit_config, postgres
):
    key = secrets.token_hex(32)
    database_url = postgres.create("undo")  # PostgreSQL: a row lock holds the undo at a batch of the test's choice
    upgrade("contacts", database_url)
    contacts_process.env.update(CRM_INTERNAL_KEY=key, CONTACTS_DATABASE_URL=database_url)
    contacts_process.start()
    url = f"http://127.0.0.1:{contacts_process.port}"
    database = pg8000.native.Connection(database=make_url(database_url).database, **PG_ADMIN)

    def post(path: str, body: str | None = None) -> requests.Response:
        headers = signed_headers(key.encode(), "POST", path, Scope.system()) | {"X-Actor": "u-importer"}
        return requests.post(f"{url}{path}", data=body, headers=headers, timeout=300)

    post("/import", "first_name,last_name,email\n" + "".join(f"P{n},Last,p{n}@example.com\n" for n in range(PEOPLE)))
    renamed = "".join(f"Renamed{n},p{n}@example.com,imported\n" for n in range(PEOPLE))
    created = "".join(f"N{n},n{n}@example.com,imported\n" for n in range(NEW))
    report = post("/import", "first_name,email,tags\n" + renamed + created).json()
    assert (report["updated"], report["created"]) == (PEOPLE, NEW), report
    changes = database.run(
        "SELECT contact_id, before IS NULL FROM contact_import_changes WHERE import_id = :i ORDER BY contact_id",
        i=report["import_id"],
    )
    edited = next(contact for contact, was_created in changes if not was_created)
    removed = next(contact for contact, was_created in changes if was_created)
    with ClusterRpcClient(uri=rabbit_config["AMQP_URI"], timeout=30, context_data=system()) as cluster:
        cluster.contacts.update_contact(edited, {"last_name": "Edited"})  # changed since the import
        cluster.contacts.delete_contact(removed)  # deleted since the import
    path = f"/imports/{report['import_id']}/undo"
    blocker = pg8000.native.Connection(database=make_url(database_url).database, **PG_ADMIN)
    blocker.run("BEGIN")
    blocker.run("SELECT id FROM contacts WHERE id = :i FOR UPDATE", i=changes[4500][0])  # in the fifth batch

    def progress() -> dict:
        [[undo_report]] = database.run("SELECT undo_report FROM contact_imports WHERE id = :i", i=report["import_id"])
        return undo_report or {}

    def first_undo() -> requests.Response | requests.RequestException:
        try:
            return post(path)
        except requests.RequestException as cut:  # its process killed
            return cut

    first = eventlet.spawn(first_undo)
    wait_for(
        lambda: sum(progress().get(k, 0) for k in ("deleted", "restored", "not_undone_count")) == 4000, "4 batches"
    )
    concurrent = post(path)
    contacts_process.kill()
    blocker.run("ROLLBACK")
    assert isinstance(first.wait(), requests.RequestException)  # it never answered
    contacts_process.start()
    retried = post(path)
    database.run(
        "UPDATE contact_imports SET lease_until = now() - interval '1 second' WHERE id = :i", i=report["import_id"]
    )
    resumed = post(path)
    again = post(path)

    assert (concurrent.status_code, retried.status_code) == (409, 409), (concurrent.text, retried.text)
    assert "being undone" in concurrent.json()["detail"] and 1 <= int(concurrent.headers["Retry-After"]) <= 10
    assert "being undone" in retried.json()["detail"]  # its lease outlives the process it belonged to
    assert resumed.status_code == 200, resumed.text
    undo_report = resumed.json()["undo_report"]
    assert resumed.json()["status"] == "undone"
    assert (undo_report["deleted"], undo_report["restored"], undo_report["not_undone_count"]) == (
        NEW - 1,
        PEOPLE - 1,
        2,
    )
    reasons = {entry["id"]: entry["reason"].split(" (")[0] for entry in undo_report["not_undone"]}
    assert reasons == {edited: "changed since the import", removed: "deleted since the import"}
    assert sum(undo_report[k] for k in ("deleted", "restored", "not_undone_count")) == len(changes)
    [[edited_email]] = database.run("SELECT emails->>0 FROM contacts WHERE id = :i", i=edited)
    expected = {f"p{n}@example.com": [f"P{n}", "Last", False] for n in range(PEOPLE)}
    expected |= {f"n{n}@example.com": [f"N{n}", "", True] for n in range(NEW)}
    expected[edited_email] = [f"Renamed{edited_email[1:].split('@')[0]}", "Edited", False]
    stored = database.run("SELECT emails->>0, first_name, last_name, deleted_at IS NOT NULL FROM contacts")
    assert {email: rest for email, *rest in stored} == expected
    live_tags = database.run(
        "SELECT contact_id, tag FROM contact_tags JOIN contacts ON id = contact_id WHERE deleted_at IS NULL"
    )
    assert live_tags == [[edited, "imported"]]  # the edited one keeps the tag the import gave
    restored_twice = database.run(
        "SELECT count(*) FROM contacts c JOIN contact_import_changes ch ON ch.contact_id = c.id "
        "WHERE ch.import_id = :i AND ch.before IS NOT NULL AND c.id != :e AND c.version != ch.version_after + 1",
        i=report["import_id"],
        e=edited,
    )
    assert restored_twice == [[0]]
    undo_events = database.run(
        "SELECT entity_id, count(*) FROM outbox WHERE payload->>'undo' = 'true' GROUP BY entity_id"
    )
    assert len(undo_events) == NEW - 1 + PEOPLE - 1 and {count for _, count in undo_events} == {1}
    assert again.status_code == 409 and "undone already" in again.json()["detail"]


def wait_for(probe, what: str, seconds: float = 60):
    """What `probe` gives once it is truthy; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (found := probe()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)
    return found
