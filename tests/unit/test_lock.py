"""The lock files pin every dependency pyproject.toml names, within its range, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """Return each pinned package of a lock file with its version and number of hashes."""
    found: dict[str, tuple[str, int]] = {}
    name = None
    for line in (ROOT / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match[1])
            found[name] = (match[2], 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def declared(*extras: str) -> list[Requirement]:
    """Return pyproject.toml's dependencies (and those of the extras) that apply here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate()]


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.txt", ()), ("requirements-dev.txt", ("dev",))]
)
def test_every_dependency_is_pinned_within_its_range_with_hashes(
    lock: str, extras: tuple[str, ...]
) -> None:
    locked = pins(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {lock}: run `make lock`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside {requirement.specifier}: run `make lock`"
        )
        assert hashes, f"{lock} has no hash for {name}"


def test_the_runtime_lock_holds_no_development_tool() -> None:
    runtime = pins("requirements.txt")
    for requirement in declared("dev")[len(declared()) :]:
        assert canonicalize_name(requirement.name) not in runtime


def test_development_installs_the_runtime_pins() -> None:
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert runtime.keys() <= dev.keys()
    assert {name: dev[name][0] for name in runtime} == {
        name: version for name, (version, _) in runtime.items()
    }


def test_the_build_backend_is_locked_and_installed_from_the_lock() -> None:
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    build, dev = pins("requirements-build.txt"), pins("requirements-dev.txt")
    for line in build_system["requires"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in build, f"{name} is not in requirements-build.txt: run `make lock`"
        version, hashes = build[name]
        assert requirement.specifier.contains(version, prereleases=True)
        assert hashes, f"requirements-build.txt has no hash for {name}"
    # `make .venv/.installed` builds the bot with the dev lock's backend: the same one.
    assert {name: dev.get(name, (None,))[0] for name in build} == {
        name: version for name, (version, _) in build.items()
    }
    assert all(hashes for _, hashes in build.values())
    runtime = pins("requirements.txt")
    shared = build.keys() & runtime.keys()
    assert {name: build[name][0] for name in shared} == {name: runtime[name][0] for name in shared}
    # Without --no-build-isolation pip would fetch the newest backend, unpinned, to build.
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-r requirements-build.txt" in dockerfile
    # The image's virtualenv gets no pip (nor setuptools): the build stage's pip fills it.
    assert "python -m venv --without-pip /opt/venv" in dockerfile
