"""`make run`: its processes listen on this machine only, unless told otherwise."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_local.py"


def run_local():
    spec = importlib.util.spec_from_file_location("run_local", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_run_listens_on_this_machine_only_unless_told(monkeypatch):
    monkeypatch.delenv("CRM_BIND_HOST", raising=False)
    assert run_local().listen_address(8001) == "127.0.0.1:8001"
    monkeypatch.setenv("CRM_BIND_HOST", "0.0.0.0")  # noqa: S104 - asked for explicitly
    assert run_local().listen_address(8001) == "0.0.0.0:8001"


def test_the_shared_nameko_config_listens_on_loopback_by_default():
    config = (SCRIPT.parents[1] / "config.yaml").read_text()
    assert "${WEB_SERVER_ADDRESS:127.0.0.1:8000}" in config
