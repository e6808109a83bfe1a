"""gatehouse-connect installs on its own: two dependencies, pinned by the lock, nothing else."""

import ast
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.architecture.test_lockfile import _pins
from tests.connector.connector_process import CONNECTOR_SOURCE

sys.path.insert(0, str(CONNECTOR_SOURCE))

from gatehouse_connect.cli import tunnel_url  # noqa: E402
from gatehouse_connect.tunnel import backoff_delay  # noqa: E402

ALLOWED_THIRD_PARTY = {"websockets", "httpx"}


def test_its_dependencies_are_two_and_locked_at_allowed_versions():
    project = tomllib.loads((CONNECTOR_SOURCE / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(spec) for spec in project["dependencies"]]
    assert {r.name for r in requirements} == ALLOWED_THIRD_PARTY
    pins = _pins()
    for requirement in requirements:
        assert requirement.specifier.contains(pins[requirement.name]), requirement
    assert project["scripts"] == {"gatehouse-connect": "gatehouse_connect.cli:main"}


def test_it_imports_no_django_and_nothing_of_the_platform():
    imported = set()
    for path in Path(CONNECTOR_SOURCE / "gatehouse_connect").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - {"gatehouse_connect"}
    assert outside == ALLOWED_THIRD_PARTY


def test_the_platform_url_maps_to_the_tunnel():
    assert tunnel_url("https://gh.example.com") == "wss://gh.example.com/connect/ws"
    assert tunnel_url("http://127.0.0.1:8000/") == "ws://127.0.0.1:8000/connect/ws"
    assert tunnel_url("https://example.com/gatehouse") == "wss://example.com/gatehouse/connect/ws"


def test_plain_http_is_for_loopback_unless_insecure():
    for loopback in ("http://localhost:8000", "http://127.0.0.2", "http://[::1]:8000"):
        assert tunnel_url(loopback).startswith("ws://")
    for remote in ("http://example.com", "ws://10.0.0.5:8000", "http://localhost.example.com"):
        with pytest.raises(ValueError, match="unencrypted"):
            tunnel_url(remote)
        assert tunnel_url(remote, insecure=True).startswith("ws://")


def test_backoff_is_full_jitter_under_a_cap():
    delays = [
        backoff_delay(attempt, initial=1.0, cap=8.0) for attempt in range(12) for _ in range(50)
    ]
    assert all(0 <= delay <= 8.0 for delay in delays)
    first = [backoff_delay(0, initial=1.0, cap=8.0) for _ in range(200)]
    assert max(first) <= 1.0 and len({round(d, 6) for d in first}) > 100  # spread, not fixed
    late = [backoff_delay(10, initial=1.0, cap=8.0) for _ in range(200)]
    assert max(late) > 4.0
