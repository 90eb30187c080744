"""Fixtures of the deployment checks: the Kubernetes manifests, rendered by `kubectl kustomize`."""

import pytest
from manifests import OVERLAYS, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Every object of the base and of each overlay, by overlay name."""
    return {name: render(path, suffix) for name, (path, suffix) in OVERLAYS.items()}
