"""A small kustomize, enough for deploy/k8s: the kustomize binary cannot be installed here.

It implements exactly the features our kustomizations use (resources, namespace, images, replicas,
strategic-merge and JSON 6902 patches, ConfigMap and Secret generators) and refuses any other key,
so that an overlay cannot silently rely on something these checks do not render. Generated names
get no hash suffix (kustomize adds one and rewrites the references; by name they resolve alike).
"""

import base64
import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KNOWN_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "images",
    "replicas",
    "patches",
    "configMapGenerator",
    "secretGenerator",
}
# Strategic merge: lists merged item by item on these keys; any other list is replaced whole.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


def load_documents(path: Path) -> list[dict]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def render(directory: Path, secret_file_suffix: str = "") -> list[dict]:
    """The objects `kustomize build directory` would print.

    `secret_file_suffix=".example"` renders an overlay whose secret env files are git-ignored from
    the committed examples next to them.
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_KEYS
    assert not unknown, f"{directory}: kustomization keys this renderer does not implement: {unknown}"
    objects = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects += render(path, secret_file_suffix) if path.is_dir() else load_documents(path)
    for generator in kustomization.get("configMapGenerator", []):
        objects.append(_generate("ConfigMap", generator, directory, secret_file_suffix))
    for generator in kustomization.get("secretGenerator", []):
        objects.append(_generate("Secret", generator, directory, secret_file_suffix))
    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, directory)
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    for replicas in kustomization.get("replicas", []):
        matches = [o for o in objects if o["metadata"]["name"] == replicas["name"] and "replicas" in o.get("spec", {})]
        assert matches, f"replicas for {replicas['name']}: no such workload"
        for obj in matches:
            obj["spec"]["replicas"] = replicas["count"]
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    return objects


def _generate(kind: str, generator: dict, directory: Path, secret_file_suffix: str) -> dict:
    data = {}
    for item in generator.get("files", []):
        key, _, path = item.rpartition("=") if "=" in item else (Path(item).name, "", item)
        data[key] = (directory / path).read_text()
    for literal in generator.get("literals", []):
        key, value = literal.split("=", 1)
        data[key] = value
    for env_file in generator.get("envs", []):
        path = directory / env_file
        if not path.exists() and secret_file_suffix:
            path = path.with_name(path.name + secret_file_suffix)
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                data[key.strip()] = value
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
    if kind == "Secret":
        obj["type"] = "Opaque"
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        obj["data"] = data
    return obj


def _matches(obj: dict, target: dict) -> bool:
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and obj["metadata"]["name"] != target["name"]:
        return False
    labels = obj["metadata"].get("labels", {})
    for requirement in filter(None, target.get("labelSelector", "").split(",")):
        key, value = requirement.split("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _apply_patch(objects: list[dict], patch: dict, directory: Path) -> None:
    documents = load_documents(directory / patch["path"]) if "path" in patch else [yaml.safe_load(patch["patch"])]
    assert len(documents) == 1, f"{patch}: one patch per entry (kustomize's `patches` takes one document)"
    for document in documents:
        if isinstance(document, list):  # JSON 6902, on every object the target selects
            targets = [o for o in objects if _matches(o, patch["target"])]
            assert targets, f"patch target {patch['target']} selects nothing"
            for obj in targets:
                for operation in document:
                    _json_patch(obj, operation)
        else:  # strategic merge, on the object of the same kind and name
            target = {"kind": document["kind"], "name": document["metadata"]["name"]}
            targets = [o for o in objects if _matches(o, target)]
            assert len(targets) == 1, f"strategic merge patch {target} selects {len(targets)} objects"
            if document.get("$patch") == "delete":
                objects.remove(targets[0])
                continue
            merged = strategic_merge(targets[0], document)
            targets[0].clear()
            targets[0].update(merged)


def strategic_merge(base, patch, field: str | None = None):
    """`patch` merged into `base` as `kubectl` does for the fields in MERGE_KEYS; null deletes."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged = copy.deepcopy(base)
        for item in patch:
            existing = [i for i, old in enumerate(merged) if old.get(key) == item.get(key)]
            if existing:
                merged[existing[0]] = strategic_merge(merged[existing[0]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _json_patch(obj: dict, operation: dict) -> None:
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        last = len(node) if last == "-" else int(last)
    op = operation["op"]
    if op == "remove":
        del node[last]
    elif op == "replace":
        assert last in node if isinstance(node, dict) else last < len(node), f"replace of a missing {operation}"
        node[last] = operation["value"]
    elif op == "add":
        if isinstance(node, list):
            node.insert(last, operation["value"])
        else:
            node[last] = operation["value"]
    else:
        raise AssertionError(f"JSON patch operation {op!r} not implemented")


def image_renames(directory: Path) -> dict[str, str]:
    """Image name -> new name, from `directory`'s kustomization and those it builds on."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    renames = {}
    for entry in kustomization.get("resources", []):
        if (directory / entry).is_dir():
            renames |= image_renames(directory / entry)
    return renames | {i["name"]: i.get("newName", i["name"]) for i in kustomization.get("images", [])}


def pod_specs(obj: dict) -> list[dict]:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        return [spec["template"]["spec"]]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def containers(obj: dict) -> list[dict]:
    return [c for pod in pod_specs(obj) for c in pod.get("initContainers", []) + pod.get("containers", [])]


def _set_image(objects: list[dict], image: dict) -> None:
    for obj in objects:
        for container in containers(obj):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def _set_namespace(objects: list[dict], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                subject.setdefault("namespace", namespace)


# What the checks expect to find.
KUBERNETES_VERSION = "1.34"  # validated against the schemas kubernetes-validate ships for it
APPS = ("contacts", "interactions", "documents", "reporting", "gateway")
OVERLAYS = {
    "base": (K8S / "base", ""),
    "dev": (K8S / "overlays" / "dev", ""),
    # prod's secret env files are git-ignored: rendered from the committed examples beside them.
    "prod": (K8S / "overlays" / "prod", ".example"),
    "prod-s3": (K8S / "overlays" / "prod-s3", ".example"),
}


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}
