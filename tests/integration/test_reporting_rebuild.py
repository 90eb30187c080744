"""`python -m reporting.rebuild` against running services over the real RabbitMQ: same numbers after."""

import io

import pytest
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crm_kernel.scope import SCOPE, Scope
from reporting.rebuild import RebuildFailed, main, rebuild


def system() -> dict:
    """The context of a call made for no user that says so (a new dict: Nameko adds to the one it gets)."""
    return {SCOPE: Scope.system().encode()}


def contact(n: int) -> dict:
    return {"first_name": f"Ada{n}", "last_name": "Lovelace", "emails": [f"ada{n}@example.com"]}


def contacts_created(reporting) -> int:
    with entrypoint_hook(reporting, "kpis", context_data=system()) as kpis:
        return kpis({"kpi": "contacts_created"})["kpis"]["contacts_created"]


def test_a_rebuild_replays_the_history_and_ends_with_the_same_numbers(start, rabbit_config):
    contacts, reporting = start("contacts", "reporting")
    for n in range(3):
        with (
            entrypoint_waiter(reporting, "on_contact_created", timeout=10),
            entrypoint_hook(contacts, "create_contact", context_data=system()) as create_contact,
        ):
            create_contact(contact(n))
    assert contacts_created(reporting) == 3

    out = io.StringIO()
    counts = rebuild(("contacts",), timeout=20, uri=rabbit_config["AMQP_URI"], out=out)

    assert counts["facts contacts_created"] == 3 and counts["events applied"] == 3
    assert contacts_created(reporting) == 3
    assert "contacts: 3 events to republish" in out.getvalue()


def test_a_rebuild_with_a_service_down_names_it_and_fails(start, rabbit_config, capsys):
    start("reporting")

    with pytest.raises(RebuildFailed, match="documents"):
        rebuild(("documents",), timeout=5, uri=rabbit_config["AMQP_URI"])
    assert main(["--services", "documents", "--timeout", "5"]) == 1
    assert "rebuild failed: not running: documents" in capsys.readouterr().err
