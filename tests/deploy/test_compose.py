"""docker-compose.yml runs every process of the design, in order, with health checks."""

import re

import pytest
import yaml
from manifests import APPS, ROOT

from crm_kernel.topology import SERVICE_CLASSES

INFRASTRUCTURE = ("rabbitmq", "postgres", "prometheus")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_names_a_service_for_each_process_of_the_design(compose):
    assert {*APPS, *INFRASTRUCTURE, "migrate"} <= set(compose["services"])


def test_rabbitmq_comes_with_the_management_plugin(compose):
    assert "management" in compose["services"]["rabbitmq"]["image"]


@pytest.mark.parametrize("app", APPS)
def test_each_app_runs_its_nameko_class_from_the_one_image(compose, app):
    service = compose["services"][app]
    assert service["command"] == ["nameko", "run", "--config", "config.yaml", SERVICE_CLASSES[app]]
    assert service["build"] == "." and service["image"] == compose["services"]["migrate"]["image"]


@pytest.mark.parametrize("app", APPS)
def test_each_app_is_healthy_when_ready_and_starts_after_broker_database_and_migrations(compose, app):
    service = compose["services"][app]
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]  # noqa: S108 - a tmpfs, as meant
    assert int(service["stop_grace_period"].rstrip("s")) >= 30


def test_the_gateway_starts_once_every_service_is_healthy(compose):
    depends = compose["services"]["gateway"]["depends_on"]
    for app in APPS:
        if app != "gateway":
            assert depends[app]["condition"] == "service_healthy"


def test_infrastructure_has_health_checks(compose):
    for name in ("rabbitmq", "postgres", "prometheus"):
        assert compose["services"][name]["healthcheck"]["test"]


def test_the_migrate_step_prepares_every_service_and_creates_the_first_admin(compose):
    migrate = compose["services"]["migrate"]
    command = " ".join(migrate["command"])
    assert "python -m crm_kernel.migrations" in command and "gateway.bootstrap" in command
    assert migrate["restart"] == "no"
    for app in APPS:
        assert f"{app.upper()}_DATABASE_URL" in migrate["environment"]


def test_each_service_logs_in_to_its_own_database_created_by_the_init_script(compose):
    logins = {}
    for app in APPS:
        url = compose["services"][app]["environment"][f"{app.upper()}_DATABASE_URL"]
        user, password, database = re.fullmatch(r"postgresql://(\w+):\$\{(\w+)\}@postgres:5432/(\w+)", url).groups()
        assert user == database == app
        logins[password] = app
        assert password in compose["services"]["postgres"]["environment"]
    assert len(logins) == len(APPS)  # separate credentials
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(m.startswith("./deploy/postgres/init-databases.sh:/docker-entrypoint-initdb.d/") for m in mounts)
    script = (ROOT / "deploy" / "postgres" / "init-databases.sh").read_text()
    assert "for service in " + " ".join(APPS) + ";" in script


def test_secrets_must_be_given_and_are_never_defaulted(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in (
        "RABBITMQ_PASSWORD",
        "POSTGRES_PASSWORD",
        "CRM_SECRET_KEY",
        "CRM_ADMIN_PASSWORD",
        "CRM_INTERNAL_KEY",
    ):
        assert f"${{{secret}:?" in text
        assert f"${{{secret}:-" not in text
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    assert all(f"{name}=" in example for name in re.findall(r"\$\{(\w+):\?", text))


def test_only_the_gateway_and_the_services_with_internal_routes_hold_the_one_internal_key(compose):
    # The gateway signs, contacts and documents check; a process that does neither has no use for it.
    holders = {app: compose["services"][app]["environment"].get("CRM_INTERNAL_KEY") for app in APPS}
    given = {app: value for app, value in holders.items() if value}
    assert set(given) == {"gateway", "contacts", "documents"}
    assert all(value.startswith("${CRM_INTERNAL_KEY:?") for value in given.values())


def test_data_and_documents_live_on_named_volumes(compose):
    named = set(compose["volumes"])
    assert {"rabbitmq-data", "postgres-data", "documents-blobs", "prometheus-data"} <= named
    documents = compose["services"]["documents"]
    assert f"documents-blobs:{documents['environment']['DOCUMENTS_STORAGE_DIR']}" in documents["volumes"]


def test_prometheus_scrapes_every_app_service(compose):
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    for app in APPS:
        address = compose["services"][app]["environment"]["WEB_SERVER_ADDRESS"]
        assert f"{app}:{address.rsplit(':', 1)[1]}" in targets
    mount = "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    assert mount in compose["services"]["prometheus"]["volumes"]


@pytest.mark.parametrize("app", APPS)
def test_each_app_logs_in_to_rabbitmq_as_its_own_user_which_the_migrate_step_makes(compose, app):
    url = compose["services"][app]["environment"]["AMQP_URI"]
    password = f"{app.upper()}_BROKER_PASSWORD"
    assert url.startswith(f"amqp://crm-{app}:${{{password}:?")
    migrate = compose["services"]["migrate"]["environment"]
    assert migrate[password].startswith(f"${{{password}:?")
    assert migrate["AMQP_URI"].startswith("amqp://crm:")  # the administrator makes the users
    assert f"{password}=" in (ROOT / "deploy" / "compose.env.example").read_text()
