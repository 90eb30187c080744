"""The Kubernetes manifests as the cluster would get them: `kubectl kustomize` of each overlay."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from crm_kernel.config import services

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.34"  # validated against the schemas kubernetes-validate ships for it
APPS = tuple(services())
OVERLAYS = {
    "base": (K8S / "base", ""),
    "dev": (K8S / "overlays" / "dev", ""),
    # prod's secret env files are git-ignored: rendered from the committed examples beside them.
    "prod": (K8S / "overlays" / "prod", ".example"),
    "prod-s3": (K8S / "overlays" / "prod-s3", ".example"),
}
# kustomize names a generated ConfigMap or Secret `<name>-<hash of its content>`.
HASHED = re.compile(r"^(?P<name>.+)-[a-z0-9]{10}$")


def render(directory: Path, secret_file_suffix: str = "") -> list[dict]:
    """The objects `kubectl kustomize directory` prints.

    `secret_file_suffix=".example"`: an env file a generator reads that is absent (prod's are
    git-ignored) is taken from the committed example beside it, in a copy of the tree.
    """
    tree = K8S if directory.is_relative_to(K8S) else directory
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "tree"
        shutil.copytree(tree, copy)
        if secret_file_suffix:
            for example in copy.rglob(f"*{secret_file_suffix}"):
                real = example.with_name(example.name.removesuffix(secret_file_suffix))
                if not real.exists():
                    shutil.copy(example, real)
        built = subprocess.run(
            ["kubectl", "kustomize", str(copy / directory.relative_to(tree))],
            capture_output=True,
            text=True,
            check=False,
        )
    assert built.returncode == 0, f"kubectl kustomize {directory}: {built.stderr}"
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


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


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    """The objects of `kind` by name; a generated ConfigMap or Secret also by its name without the hash."""
    found = {}
    for obj in objects:
        if obj["kind"] == kind:
            name = obj["metadata"]["name"]
            found[name] = obj
            hashed = HASHED.match(name)
            if kind in ("ConfigMap", "Secret") and hashed:
                found.setdefault(hashed["name"], obj)
    return found
