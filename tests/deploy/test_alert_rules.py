"""The alerting rules: one file for compose and Kubernetes, valid for promtool, and each alert fires on
the figures of a bad day (deploy/prometheus/alerts.test.yml) and not on a normal one."""

import shutil
import subprocess

import pytest
import yaml
from manifests import ROOT, by_kind

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
K8S_RULES = ROOT / "deploy" / "k8s" / "base" / "prometheus" / "alerts.yml"
promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: apt-get install prometheus")


def test_kubernetes_and_compose_load_the_same_rules(rendered):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert K8S_RULES.read_text() == RULES.read_text()
    assert (
        "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose["services"]["prometheus"]["volumes"]
    )
    for overlay in rendered:
        config = by_kind(rendered[overlay], "ConfigMap")["prometheus-config"]["data"]
        assert config["alerts.yml"] == RULES.read_text()
        assert yaml.safe_load(config["prometheus.yml"])["rule_files"] == ["alerts.yml"]
    assert yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["rule_files"] == [
        "alerts.yml"
    ]


def test_every_condition_of_a_bad_day_has_an_alert():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert alerts == {
        "CrmProcessDown",
        "CrmInternalErrors",
        "CrmUnavailableAnswers",
        "CrmEventLag",
        "CrmOutboxBacklog",
        "CrmEventsDeadLettered",
        "CrmSlaBreachesPilingUp",
    }


@promtool
def test_promtool_accepts_the_rules():
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@promtool
def test_each_alert_fires_on_the_figures_of_its_condition():
    tested = subprocess.run(
        ["promtool", "test", "rules", "alerts.test.yml"], cwd=RULES.parent, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
