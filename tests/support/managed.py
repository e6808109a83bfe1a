"""The test settings of managed servers: the commands the suite runs, what their sandbox shows.

`tests/conftest.py` applies them to the test process and, through the environment, to every
supervisor (`run_managed`) a test starts.
"""

import os
import sys
from pathlib import Path

from tests.support import node

REPO = Path(__file__).resolve().parents[2]


def _node_command() -> list[str]:
    try:
        return [node.node_executable()]
    except node.NodeToolingMissing:
        return []


# The Python of the venv (stdio servers written with the SDK), the Node that runs the reference
# server, npx, and the made-up commands of tests that never start them.
ALLOWED_COMMANDS = [
    sys.executable,
    *_node_command(),
    "npx",
    "mcp-fs",
    "mcp-wiki",
    "mcp-ide",
    "/nonexistent/mcp-server",
]
# The test servers' scripts and the npm packages, but not the rest of the checkout.
READONLY_PATHS = [str(REPO / "tests" / "upstreams"), str(REPO / "node_modules")]


def environment() -> dict[str, str]:
    return {
        "MANAGED_ALLOWED_COMMANDS": ",".join(ALLOWED_COMMANDS),
        "MANAGED_SANDBOX_READONLY_PATHS": ",".join(READONLY_PATHS),
    }


def apply_to(settings) -> None:
    os.environ.update(environment())
    settings.MANAGED_ALLOWED_COMMANDS = ALLOWED_COMMANDS
    settings.MANAGED_SANDBOX_READONLY_PATHS = READONLY_PATHS
