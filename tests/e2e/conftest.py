"""The whole system, started by the same launcher as `make run`, driven over HTTP."""

import pytest
from system_launcher import SERVICES, launched


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def system(request, make_vhost, tmp_path_factory):
    """Runs `scripts/run_local.py` with every database on the engine of the parameter."""
    var_dir = tmp_path_factory.mktemp(f"system-{request.param}")
    databases = {}
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres")
        for service in SERVICES:
            databases[f"{service.upper()}_DATABASE_URL"] = postgres.create(f"e2e_{service}")
    with launched(var_dir, make_vhost(), **databases) as running:
        yield running
