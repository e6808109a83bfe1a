"""requirements.lock pins every requirement pyproject.toml names, at a version it allows."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.split(";")[0].strip().partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + [
        spec for extra in project["optional-dependencies"].values() for spec in extra
    ]
    return [Requirement(spec) for spec in names if not spec.startswith("gatehouse")]


def test_every_requirement_is_pinned_at_an_allowed_version():
    pins = _pins()
    wrong = []
    for requirement in _requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement} (locked: {version})")
    assert not wrong, "run `make lock`: " + "; ".join(wrong)


def test_the_install_uses_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert '-c requirements.lock -e ".[dev]"' in makefile
