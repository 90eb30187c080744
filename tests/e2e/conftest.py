"""The whole system, started by the same launcher as `make run`, driven over HTTP."""

import pytest
from system_launcher import SERVICES, launched

# The engine of the deployments. A test whose behaviour the engine decides (SQL it builds: search,
# paging, imports, scope filters inside queries) says so with @pytest.mark.engines("sqlite", "postgresql")
# and runs on each; the rest run once, here. Each engine's system still starts at most once per run.
DEFAULT_ENGINE = "postgresql"


def pytest_generate_tests(metafunc):
    if "system" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        engines = list(marker.args) if marker else [DEFAULT_ENGINE]
        metafunc.parametrize("system", engines, indirect=True, scope="session")


@pytest.fixture(scope="session")
def system(request, make_vhost, tmp_path_factory):
    """Runs `scripts/run_local.py` with every database on the engine the test asks for (see above)."""
    with running_system(request, request.param, make_vhost, tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def system_of_its_own(request, make_vhost, tmp_path_factory):
    """A second system (SQLite) for tests that change rules every other test relies on: custom fields
    that become required, SLA policies, plans, logins that lock addresses and revoke tokens."""
    with running_system(request, "sqlite", make_vhost, tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def system_of_its_own_on_each_engine(request, make_vhost, tmp_path_factory):
    """A system per engine for one module whose load (tens of thousands of events) must not reach the
    shared system's reports."""
    with running_system(request, request.param, make_vhost, tmp_path_factory) as running:
        yield running


def running_system(request, engine: str, make_vhost, tmp_path_factory):
    """`system_launcher.launched` with every database on `engine`."""
    databases = {}
    if engine == "postgresql":
        postgres = request.getfixturevalue("postgres")
        for service in SERVICES:
            databases[f"{service.upper()}_DATABASE_URL"] = postgres.create(f"e2e_{service}")
    return launched(tmp_path_factory.mktemp(f"system-{engine}"), make_vhost(), **databases)
