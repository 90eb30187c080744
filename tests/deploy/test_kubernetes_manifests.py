"""Every manifest is valid Kubernetes, and every workload is shaped for production."""

import kubernetes_validate
import pytest
from manifests import APPS, KUBERNETES_VERSION, OVERLAYS, ROOT, by_kind, containers, pod_specs

from crm_kernel.topology import SERVICE_CLASSES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schemas_strictly(rendered, overlay):
    failures = []
    for obj in rendered[overlay]:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {getattr(error, 'message', error)}")
    assert not failures
    assert len(rendered[overlay]) > 40  # the whole system, not an empty render


def test_the_validator_rejects_an_unknown_field():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "x", "image": "x", "portz": []}]}}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_and_the_gateway_runs_its_own_nameko_class(rendered, overlay):
    deployments = by_kind(rendered[overlay], "Deployment")
    for app in APPS:
        (container,) = pod_specs(deployments[app])[0]["containers"]
        assert container["command"] == ["nameko", "run", "--config", "config.yaml", SERVICE_CLASSES[app]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_deployment_has_probes_resources_and_a_non_root_read_only_container(rendered, overlay):
    for name in APPS:
        pod = pod_specs(by_kind(rendered[overlay], "Deployment")[name])[0]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        # werkzeug spools uploads to /tmp: a writable emptyDir over a read-only root
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")  # noqa: S108
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_of_every_workload_has_resources_and_no_root_user(rendered, overlay):
    for obj in rendered[overlay]:
        for pod in pod_specs(obj):
            assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        for container in containers(obj):
            assert container["resources"]["requests"] and container["resources"]["limits"], container["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_leaves_in_flight_work_the_time_to_finish(rendered, overlay):
    gateway_config = by_kind(rendered[overlay], "ConfigMap")["gateway-config"]["data"]
    rpc_timeout = int(gateway_config["CRM_RPC_TIMEOUT"])
    for name in APPS:
        pod = pod_specs(by_kind(rendered[overlay], "Deployment")[name])[0]
        (container,) = pod["containers"]
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"  # endpoints are removed while the pod still serves
        # The pre-stop pause, then a gateway request's longest wait, fit in the grace period.
        assert pod["terminationGracePeriodSeconds"] >= int(command[1]) + rpc_timeout + 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_has_an_autoscaler_and_a_disruption_budget_that_select_its_pods(rendered, overlay):
    deployments = by_kind(rendered[overlay], "Deployment")
    autoscalers = by_kind(rendered[overlay], "HorizontalPodAutoscaler")
    budgets = by_kind(rendered[overlay], "PodDisruptionBudget")
    for name in APPS:
        deployment = deployments[name]
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count; apply must not reset it
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        target = autoscalers[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert 1 <= autoscalers[name]["spec"]["minReplicas"] <= autoscalers[name]["spec"]["maxReplicas"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        others = [d for n, d in deployments.items() if n != name]
        for other in others:  # a budget that also counted another app's pods would protect neither
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert not budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_runs_each_services_migrations(rendered, overlay):
    jobs = by_kind(rendered[overlay], "Job")
    for name in APPS:
        (container,) = pod_specs(jobs[f"{name}-migrate"])[0]["containers"]
        assert f"crm_kernel.migrations {name}" in " ".join(container["command"])
    (gateway_job,) = pod_specs(jobs["gateway-migrate"])[0]["containers"]
    assert "gateway.bootstrap" in " ".join(gateway_job["command"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rabbitmq_is_a_three_node_cluster_making_durable_queues_quorum_queues(rendered, overlay):
    rabbitmq = by_kind(rendered[overlay], "StatefulSet")["rabbitmq"]
    assert rabbitmq["spec"]["replicas"] == (1 if overlay == "dev" else 3)
    config = by_kind(rendered[overlay], "ConfigMap")["rabbitmq-config"]["data"]
    assert "default_queue_type = quorum" in config["rabbitmq.conf"]
    assert "rabbitmq_peer_discovery_k8s" in config["enabled_plugins"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_postgresql_with_its_own_secret(rendered, overlay):
    statefulsets = by_kind(rendered[overlay], "StatefulSet")
    secrets = by_kind(rendered[overlay], "Secret")
    for name in APPS:
        (container,) = pod_specs(statefulsets[f"{name}-db"])[0]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["POSTGRES_DB"]["value"] == env["POSTGRES_USER"]["value"] == name
        # The base names the Secret each overlay generates, and kustomize gives that one a hashed name.
        secret = f"{name}-db" if overlay == "base" else secrets[f"{name}-db"]["metadata"]["name"]
        assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secret
        assert statefulsets[f"{name}-db"]["spec"]["volumeClaimTemplates"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_is_annotated_for_the_prometheus_scrape_config(rendered, overlay):
    scrape = by_kind(rendered[overlay], "ConfigMap")["prometheus-config"]["data"]["prometheus.yml"]
    assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in scrape
    for name in APPS:
        deployment = by_kind(rendered[overlay], "Deployment")[name]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        (container,) = pod_specs(deployment)[0]["containers"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) in {p["containerPort"] for p in container["ports"]}


def test_prod_gives_the_gateway_more_pods_and_keeps_two_up_through_drains(rendered):
    assert by_kind(rendered["prod"], "HorizontalPodAutoscaler")["gateway"]["spec"]["minReplicas"] == 3
    assert by_kind(rendered["prod"], "PodDisruptionBudget")["gateway"]["spec"] == {
        "minAvailable": 2,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/part-of": "crm"}},
    }
    (gateway,) = pod_specs(by_kind(rendered["prod"], "Deployment")["gateway"])[0]["containers"]
    assert gateway["resources"]["requests"]["cpu"] == "500m"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"  # the merge kept the rest


def test_dev_runs_one_documents_pod_on_a_read_write_once_volume(rendered):
    assert by_kind(rendered["dev"], "PersistentVolumeClaim")["documents-blobs"]["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    autoscaler = by_kind(rendered["dev"], "HorizontalPodAutoscaler")["documents"]["spec"]
    assert autoscaler["minReplicas"] == autoscaler["maxReplicas"] == 1
    assert by_kind(rendered["dev"], "Deployment")["documents"]["spec"]["strategy"] == {"type": "Recreate"}


def test_prod_s3_keeps_the_blobs_in_a_bucket_with_the_variables_the_documents_service_reads(rendered):
    objects = rendered["prod-s3"]
    assert "documents-blobs" not in by_kind(objects, "PersistentVolumeClaim")
    config = by_kind(objects, "ConfigMap")["documents-config"]["data"]
    assert config["DOCUMENTS_STORAGE"] == "s3" and config["DOCUMENTS_S3_BUCKET"]
    storage = (ROOT / "services" / "documents" / "documents" / "storage.py").read_text()
    for variable in ("DOCUMENTS_STORAGE", "DOCUMENTS_S3_BUCKET", "DOCUMENTS_S3_ENDPOINT_URL"):
        assert f'env("{variable}"' in storage  # the names the service actually reads
    pod = pod_specs(by_kind(objects, "Deployment")["documents"])[0]
    assert next(v for v in pod["volumes"] if v["name"] == "blobs") == {
        "name": "blobs",
        "emptyDir": {"sizeLimit": "2Gi"},
    }
    env = {e["name"] for e in pod["containers"][0]["env"]}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DOCUMENTS_DATABASE_URL"} <= env  # merged, not replaced


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector.get("matchLabels")) and selector["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_and_prometheus_reach_a_services_http_port(rendered, overlay):
    deployments = by_kind(rendered[overlay], "Deployment")
    pod_labels = {
        name: deployment["spec"]["template"]["metadata"]["labels"] for name, deployment in deployments.items()
    }
    policies = by_kind(rendered[overlay], "NetworkPolicy").values()
    for app in (name for name in APPS if name != "gateway"):
        (policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], pod_labels[app])]
        (rule,) = policy["spec"]["ingress"]
        allowed = {
            name
            for name, labels in pod_labels.items()
            for peer in rule["from"]
            if _selects(peer["podSelector"], labels)
        }
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert allowed == {"gateway", "prometheus"}, app
        assert [port["port"] for port in rule["ports"]] == ["http"]
        (container,) = pod_specs(deployments[app])[0]["containers"]
        assert [port["name"] for port in container["ports"]] == ["http"]


def _pods(objects: list[dict]) -> dict[str, tuple[dict, list[dict]]]:
    """Every workload's pod labels and containers, by workload name."""
    return {
        o["metadata"]["name"]: (o["spec"]["template"]["metadata"]["labels"], pod_specs(o)[0]["containers"])
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    }


def _admitted(policy: dict, pods: dict) -> dict[str, set[str]]:
    """Which workloads each named port of the policy admits."""
    admitted: dict[str, set[str]] = {}
    for rule in policy["spec"]["ingress"]:
        names = {name for name, (labels, _) in pods.items() for p in rule["from"] if _selects(p["podSelector"], labels)}
        for port in rule["ports"]:
            admitted.setdefault(port["port"], set()).update(names)
    return admitted


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rabbitmq_and_each_database_admit_only_the_pods_that_use_them(rendered, overlay):
    pods = _pods(rendered[overlay])
    policies = by_kind(rendered[overlay], "NetworkPolicy").values()

    def policy_of(workload):
        (policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], pods[workload][0])]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        return policy

    def clients(variable):
        return {
            name
            for name, (_, containers) in pods.items()
            for c in containers
            if any(e["name"] == variable for e in c.get("env", []))
        }

    amqp_clients, user_makers = clients("AMQP_URI"), clients("RABBITMQ_MANAGEMENT_URL")
    assert {*APPS, *(f"{app}-migrate" for app in APPS)} <= amqp_clients
    assert user_makers == {f"{app}-migrate" for app in APPS}
    broker = _admitted(policy_of("rabbitmq"), pods)
    assert broker == {
        "amqp": amqp_clients,
        "management": user_makers,
        "epmd": {"rabbitmq"},
        "cluster": {"rabbitmq"},
        "prometheus": {"prometheus"},
    }
    for app in APPS:
        assert _admitted(policy_of(f"{app}-db"), pods) == {"postgres": {app, f"{app}-migrate"}}, app


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_app_uses_its_own_rabbitmq_user_which_its_migration_job_makes(rendered, overlay):
    deployments, jobs = by_kind(rendered[overlay], "Deployment"), by_kind(rendered[overlay], "Job")
    for app in APPS:
        (app_container,) = pod_specs(deployments[app])[0]["containers"]
        env = {e["name"]: e for e in app_container["env"]}
        assert env["RABBITMQ_USER"]["value"] == f"crm-{app}"
        assert env["RABBITMQ_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"{app}-password"
        (job_container,) = pod_specs(jobs[f"{app}-migrate"])[0]["containers"]
        job_env = {e["name"]: e for e in job_container["env"]}
        assert job_env["RABBITMQ_USER"]["valueFrom"]["secretKeyRef"]["key"] == "username"  # the administrator
        assert job_env[f"{app.upper()}_BROKER_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"{app}-password"
