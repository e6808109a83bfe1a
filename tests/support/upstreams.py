"""Pytest fixtures that run real upstream MCP servers for the data-plane tests.

Each HTTP upstream (``tests/upstreams/*.py``) runs as a subprocess (``tests.support.processes``)
on a free loopback port and is shared by the whole session: servers start on first use and stop
when the session ends. The fixtures yield the upstream's MCP endpoint URL
(``http://127.0.0.1:<port>/mcp``).

* ``conformance_server_url``: every fixture the MCP conformance suite expects (both eras);
  ``conformance_modern_url``: the same, speaking only 2026-07-28.
* ``catalog_server_url`` (both eras, SSE), ``catalog_handshake_url``, ``catalog_modern_url``,
  ``catalog_json_url`` (both eras, JSON responses); ``upstream_servers.catalog(era=..., json=...)``
  for any other combination.
* ``demo_server_url``: the demo's world-time server, as `manage.py run_demo_server` runs it.
* ``server_everything_argv``: the argv of the reference "everything" server over stdio, for
  managed-server tests.

Use them from a test module's conftest with ``pytest_plugins = ["tests.support.upstreams"]``
in ``tests/conftest.py``, or by importing the fixtures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import node
from tests.support.processes import HOST, RunningProcess, free_port, start_process

UPSTREAMS_DIR = Path(__file__).resolve().parents[1] / "upstreams"
ROOT = Path(__file__).resolve().parents[2]


class UpstreamServers:
    """Starts each distinct upstream once and remembers its URL until :meth:`close`."""

    def __init__(self) -> None:
        self._urls: dict[tuple[str, ...], str] = {}
        self._processes: list[RunningProcess] = []

    def start(self, script: str, *args: str) -> str:
        """Run ``tests/upstreams/<script>`` with ``args`` (once) and return its MCP URL."""
        key = (script, *args)
        if key not in self._urls:
            port = free_port()
            argv = [sys.executable, str(UPSTREAMS_DIR / script), "--port", str(port), *args]
            self._processes.append(start_process(argv, port=port))
            self._urls[key] = f"http://{HOST}:{port}/mcp"
        return self._urls[key]

    def conformance(self, *, era: str = "both") -> str:
        return self.start("conformance_server.py", *(["--era", era] if era != "both" else []))

    def catalog(self, *, era: str = "both", json: bool = False) -> str:
        return self.start("catalog_server.py", "--era", era, *(["--json"] if json else []))

    def trace_meta(self, *, era: str = "both") -> str:
        """The catalog server with ``trace_meta``, which answers with the ``_meta`` it got."""
        return self.start("trace_meta_server.py", "--era", era)

    def demo(self) -> str:
        """The demo's world-time server, started by the command the README gives."""
        key = ("run_demo_server",)
        if key not in self._urls:
            port = free_port()
            argv = [sys.executable, "manage.py", "run_demo_server", "--port", str(port)]
            self._processes.append(start_process(argv, port=port, cwd=ROOT))
            self._urls[key] = f"http://{HOST}:{port}/mcp"
        return self._urls[key]

    def close(self) -> None:
        for process in self._processes:
            process.stop()
        self._processes.clear()
        self._urls.clear()


@pytest.fixture(scope="session")
def upstream_servers() -> Iterator[UpstreamServers]:
    servers = UpstreamServers()
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def demo_server_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.demo()


@pytest.fixture(scope="session")
def conformance_server_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.conformance()


@pytest.fixture(scope="session")
def conformance_modern_url(upstream_servers: UpstreamServers) -> str:
    """The conformance server speaking only 2026-07-28."""
    return upstream_servers.conformance(era="modern")


@pytest.fixture(scope="session")
def catalog_server_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.catalog(era="both")


@pytest.fixture(scope="session")
def catalog_handshake_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.catalog(era="handshake")


@pytest.fixture(scope="session")
def catalog_modern_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.catalog(era="modern")


@pytest.fixture(scope="session")
def catalog_json_url(upstream_servers: UpstreamServers) -> str:
    return upstream_servers.catalog(era="both", json=True)


@pytest.fixture(scope="session")
def server_everything_argv() -> list[str]:
    return node.server_everything_command()
