"""Each part is released on its own: the gateway runs no service's code, and a service imports only the
kernel and itself (issue 16). Imports are read from the source with `ast`, so nothing is executed."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("contacts", "interactions", "documents", "reporting")
FIRST_PARTY = {*SERVICES, "gateway", "crm_kernel"}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The top-level packages `path` imports (`import x.y`, `from x.y import z`,
    `importlib.import_module("x.y")`), with the line of each."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add((node.args[0].value.split(".")[0], node.lineno))
    return found


def foreign_imports(folder: Path, allowed: set[str]) -> list[str]:
    """Every import under `folder` of a first-party package outside `allowed`, as `file:line package`."""
    return sorted(
        f"{path.relative_to(ROOT)}:{line} {package}"
        for path in folder.rglob("*.py")
        for package, line in imported_packages(path)
        if package in FIRST_PARTY - allowed
    )


def test_the_reader_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import contacts.schemas\nfrom reporting import kpis\nfrom . import sibling\n"
        "import importlib\nimportlib.import_module('documents.storage')\n"
    )
    assert imported_packages(source) == {("contacts", 1), ("reporting", 2), ("importlib", 4), ("documents", 5)}


def test_the_gateway_imports_no_service_package():
    assert foreign_imports(ROOT / "gateway", {"gateway", "crm_kernel"}) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_the_kernel_and_itself(service):
    assert foreign_imports(ROOT / "services" / service, {service, "crm_kernel"}) == []


def test_the_kernel_imports_no_service_and_not_the_gateway():
    assert foreign_imports(ROOT / "crm_kernel", {"crm_kernel"}) == []
