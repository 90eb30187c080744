"""Every name a manifest refers to (ConfigMap keys, Secret keys, volumes, ports, images, accounts)
resolves to something the same rendering defines."""

import base64
import fnmatch
import re

import pytest
import yaml
from manifests import APPS, K8S, OVERLAYS, ROOT, by_kind, containers, image_renames, pod_specs, render

from crm_kernel.secrets import weakness

DEPLOYABLE = [name for name in OVERLAYS if name != "base"]


def data_keys(obj: dict) -> set[str]:
    return set(obj.get("data", {})) | set(obj.get("stringData", {}))


@pytest.mark.parametrize("overlay", DEPLOYABLE)
def test_every_configmap_and_secret_key_a_container_reads_exists(rendered, overlay):
    config_maps = by_kind(rendered[overlay], "ConfigMap")
    secrets = by_kind(rendered[overlay], "Secret")
    for obj in rendered[overlay]:
        for container in containers(obj):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {})
                if "configMapKeyRef" in reference:
                    ref = reference["configMapKeyRef"]
                    assert ref["key"] in data_keys(config_maps[ref["name"]]), (obj["metadata"]["name"], ref)
                if "secretKeyRef" in reference:
                    ref = reference["secretKeyRef"]
                    assert ref["key"] in data_keys(secrets[ref["name"]]), (obj["metadata"]["name"], ref)


@pytest.mark.parametrize("overlay", DEPLOYABLE)
def test_everything_an_overlay_deploys_lands_in_one_namespace(rendered, overlay):
    namespaces = {obj["metadata"].get("namespace") for obj in rendered[overlay]}
    assert len(namespaces) == 1 and None not in namespaces, namespaces


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_expansion_refers_to_a_variable_defined_before_it(rendered, overlay):
    for obj in rendered[overlay]:
        for container in containers(obj):
            defined = set()
            for variable in container.get("env", []):
                for used in re.findall(r"\$\((\w+)\)", variable.get("value", "")):
                    assert used in defined, (obj["metadata"]["name"], variable["name"], used)
                defined.add(variable["name"])


@pytest.mark.parametrize("overlay", DEPLOYABLE)
def test_every_volume_refers_to_an_existing_configmap_secret_or_claim(rendered, overlay):
    objects = rendered[overlay]
    config_maps, secrets = by_kind(objects, "ConfigMap"), by_kind(objects, "Secret")
    claims = by_kind(objects, "PersistentVolumeClaim")
    for obj in objects:
        for pod in pod_specs(obj):
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            templates = {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
            for volume in volumes.values():
                if "configMap" in volume:
                    config_map = config_maps[volume["configMap"]["name"]]
                    assert {i["key"] for i in volume["configMap"].get("items", [])} <= data_keys(config_map)
                if "secret" in volume:
                    secret = secrets[volume["secret"]["secretName"]]
                    assert {i["key"] for i in volume["secret"].get("items", [])} <= data_keys(secret)
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
            for container in pod.get("initContainers", []) + pod["containers"]:
                for mount in container.get("volumeMounts", []):
                    assert mount["name"] in volumes or mount["name"] in templates, (obj["metadata"]["name"], mount)
                    source = volumes.get(mount["name"], {}).get("configMap")
                    if source and "subPath" in mount:
                        assert mount["subPath"] in data_keys(config_maps[source["name"]])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selects_pods_whose_containers_serve_its_target_ports(rendered, overlay):
    workloads = [o for o in rendered[overlay] if o["kind"] in ("Deployment", "StatefulSet")]
    for service in by_kind(rendered[overlay], "Service").values():
        selected = [
            w
            for w in workloads
            if service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert selected, f"Service {service['metadata']['name']} selects no pods"
        for workload in selected:
            ports = [p for c in pod_specs(workload)[0]["containers"] for p in c.get("ports", [])]
            served = {p["name"] for p in ports if "name" in p} | {p["containerPort"] for p in ports}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in served, (service["metadata"]["name"], port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_account_a_pod_or_binding_names_exists(rendered, overlay):
    accounts = by_kind(rendered[overlay], "ServiceAccount")
    roles = by_kind(rendered[overlay], "Role")
    for obj in rendered[overlay]:
        for pod in pod_specs(obj):
            if "serviceAccountName" in pod:
                assert pod["serviceAccountName"] in accounts
        for subject in obj.get("subjects", []):
            assert subject["name"] in accounts
        if obj["kind"] == "RoleBinding":
            assert obj["roleRef"]["name"] in roles


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_containers_run_the_image_the_dockerfile_builds_and_others_pinned_tags(rendered, overlay):
    app_image = image_renames(OVERLAYS[overlay][0]).get("crm-platform", "crm-platform")
    app_workloads = {*APPS, *(f"{app}-migrate" for app in APPS)}
    for obj in rendered[overlay]:
        for container in containers(obj):
            name, _, tag = container["image"].partition(":")
            if obj["kind"] in ("Deployment", "Job") and obj["metadata"]["name"] in app_workloads:
                assert name == app_image, (obj["metadata"]["name"], container["image"])
            elif overlay != "base" or name != "crm-platform":  # the base leaves the release tag to overlays
                assert tag and tag != "latest", container["image"]


def test_third_party_images_are_the_same_versions_in_kubernetes_and_compose(rendered):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    compose_images = {s["image"] for s in compose.values() if "crm-platform" not in s["image"]}
    k8s_images = {c["image"] for o in rendered["base"] for c in containers(o) if "crm-platform" not in c["image"]}
    assert k8s_images == compose_images


def test_the_base_commits_no_secret_and_every_overlay_generates_the_ones_it_references(rendered):
    assert not by_kind(rendered["base"], "Secret")
    referenced = {}
    for obj in rendered["base"]:
        for container in containers(obj):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
        for pod in pod_specs(obj):
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    keys = {i["key"] for i in volume["secret"]["items"]}
                    referenced.setdefault(volume["secret"]["secretName"], set()).update(keys)
    for overlay in DEPLOYABLE:
        secrets = by_kind(rendered[overlay], "Secret")
        assert {name: data_keys(secrets[name]) for name in referenced} == referenced


@pytest.mark.parametrize("overlay,count", [("prod", 8), ("prod-s3", 1)])
def test_prod_secret_files_are_git_ignored_and_their_examples_hold_placeholders_only(overlay, count):
    prod = K8S / "overlays" / overlay
    ignored = [line for line in (ROOT / "deploy" / ".gitignore").read_text().splitlines() if line and line[0] != "#"]
    kustomization = yaml.safe_load((prod / "kustomization.yaml").read_text())
    env_files = [path for generator in kustomization["secretGenerator"] for path in generator["envs"]]
    assert len(env_files) == count
    for env_file in env_files:
        relative = (prod / env_file).relative_to(ROOT / "deploy").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in ignored), relative
        example = (prod / (env_file + ".example")).read_text()
        values = [line.split("=", 1)[1] for line in example.splitlines() if line and line[0] != "#"]
        assert all(v.startswith("REPLACE") or v == "crm" for v in values), env_file


@pytest.mark.parametrize("overlay", DEPLOYABLE)
def test_the_gateway_and_the_services_with_internal_routes_read_one_internal_key(rendered, overlay):
    # Internal routes check the gateway's signature in Kubernetes too: a NetworkPolicy is a second wall.
    readers = {
        obj["metadata"]["name"]: variable["valueFrom"]["secretKeyRef"]
        for obj in rendered[overlay]
        if obj["kind"] == "Deployment"
        for container in containers(obj)
        for variable in container.get("env", [])
        if variable["name"] == "CRM_INTERNAL_KEY"
    }
    assert set(readers) == {"gateway", "contacts", "documents"}
    assert len({(ref["name"], ref["key"]) for ref in readers.values()}) == 1
    assert not any(ref.get("optional") for ref in readers.values())


def test_prod_renders_the_operators_secret_files_when_present(tmp_path):
    # The renderer reads the real file first; the examples stand in only when it is absent.
    overlay = tmp_path / "prod"
    (overlay / "secrets").mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "resources: []\nsecretGenerator:\n  - name: s\n    envs: [secrets/s.env]\n"
    )
    (overlay / "secrets" / "s.env").write_text("password=from-the-operator\n")
    (overlay / "secrets" / "s.env.example").write_text("password=REPLACE\n")
    (secret,) = render(overlay, ".example")
    assert base64.b64decode(secret["data"]["password"]) == b"from-the-operator"


def test_only_the_dev_overlay_runs_in_development_mode_where_placeholder_secrets_pass(rendered):
    def environment(overlay):
        (common,) = [o for o in rendered[overlay] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "crm-common"]
        return common["data"].get("CRM_ENVIRONMENT")

    assert environment("dev") == "development"
    assert all(environment(overlay) is None for overlay in rendered if overlay != "dev")  # the image's production
    assert "CRM_ENVIRONMENT=production" in (ROOT / "Dockerfile").read_text()


def test_every_published_example_secret_is_refused_outside_development():
    examples = [*(K8S / "overlays").glob("*/secrets/*.env.example"), ROOT / "deploy" / "compose.env.example"]
    lines = [line for path in examples for line in path.read_text().splitlines() if "=" in line and line[0] != "#"]
    secrets = [
        value
        for line in lines
        for key, value in [line.split("=", 1)]
        if "PASSWORD" in key.upper()
        or key.upper() in ("CRM_SECRET_KEY", "SECRET-KEY", "CRM_INTERNAL_KEY", "INTERNAL-KEY", "ERLANG-COOKIE")
        or key.upper() == "SECRET-ACCESS-KEY"
    ]
    dev = yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())
    secrets += [lit.split("=", 1)[1] for g in dev["secretGenerator"] for lit in g["literals"] if "dev-only" in lit]
    assert len(secrets) > 10
    assert all(weakness(value) for value in secrets), [value for value in secrets if not weakness(value)]
