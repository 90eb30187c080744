"""The Dockerfile: multi-stage, non-root, and installs exactly the pins of requirements.txt."""

import fnmatch
import re
import shlex
from importlib.metadata import distribution

from manifests import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")]


def stages() -> list[list[tuple[str, str]]]:
    result = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def pins() -> dict[str, str]:
    result = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[A-Za-z0-9_.\-]+", name), f"not an exact pin: {line}"
            result[canonicalize_name(name)] = version
    return result


def test_every_requirement_is_an_exact_pin():
    assert len(pins()) > 20


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user():
    build, *_, runtime = stages()
    assert len(stages()) >= 2
    assert " AS " in build[0][1].upper()
    users = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    assert not any(i == "RUN" and "pip install" in a for i, a in runtime)  # nothing resolved at run stage


def test_the_image_installs_requirements_txt_without_resolving_anything_else():
    commands = [a for i, a in instructions() if i == "RUN"]
    installs = [part.strip() for command in commands for part in command.split("&&") if "pip install" in part]
    requirements = [i for i in installs if "-r" in shlex.split(i)]
    assert len(requirements) == 1
    assert "--no-deps" in shlex.split(requirements[0])
    assert any("pip check" in command for command in commands)
    for other in set(installs) - set(requirements):  # only pip itself, pinned
        assert re.fullmatch(r"\S*pip install pip==[\d.]+", other), other
    assert ("COPY", "requirements.txt /tmp/requirements.txt") in instructions()


def test_requirements_txt_is_closed_under_dependencies_so_no_deps_installs_a_working_set():
    pinned = pins()
    missing = {}
    for name in pinned:
        for requirement in map(Requirement, distribution(name).requires or []):
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in pinned:
                missing[requirement.name] = name
            else:
                assert requirement.specifier.contains(pinned[canonicalize_name(requirement.name)], prereleases=True)
    assert not missing, f"add exact pins to requirements.txt for (dependency: needed by) {missing}"


def test_the_installed_environment_matches_the_pins():
    for name, version in pins().items():
        assert distribution(name).version == version, name


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies():
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]

    def included(path: str) -> bool:
        allowed = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
                allowed = negated
        return allowed

    sources = [a.split()[0] for i, a in instructions() if i == "COPY" and not a.startswith("--from")]
    assert sources and all(included(source) for source in sources), sources
    assert not included(".venv") and not included("var") and not included("tests")


def test_the_default_command_is_a_nameko_process_and_the_path_covers_every_service():
    (cmd,) = [a for i, a in instructions() if i == "CMD"]
    assert cmd.startswith('["nameko", "run", "--config", "config.yaml"')
    env = " ".join(a for i, a in instructions() if i == "ENV")
    services = ("contacts", "interactions", "documents", "reporting")
    for folder in ("/app", "/app/gateway", *(f"/app/services/{name}" for name in services)):
        assert folder in env
