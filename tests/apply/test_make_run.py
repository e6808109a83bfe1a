"""`make run` as a new user meets it, on a machine with Python and make but no Node: the console
answers, both demo gateways list the demo remote server's tools within the three minutes the
README promises, and the managed demo server says why it is not running.

The install (`.venv/.installed`) is the suite's own; everything after it is the Makefile's.
"""

import asyncio
import os
import signal
import subprocess
import time

import httpx
import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.audit.load_run import ROOT
from tests.support.mcp_clients import handshake_session, modern_client
from tests.support.processes import free_port, start_process

BUDGET_SECONDS = 180
# What the Makefile's recipes run besides the venv's Python: make and the shell, nothing else.
TOOLS = ("make", "sh", "bash")


@pytest.fixture
def path_without_node(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = subprocess.run(["which", tool], capture_output=True, text=True, check=True)
        (bin_dir / tool).symlink_to(found.stdout.strip())
    return str(bin_dir)


@pytest.fixture
def embedded_env(tmp_path, path_without_node):
    env = {
        key: value
        for key, value in os.environ.items()
        # The embedded defaults: whatever backends the suite runs on, `make run` uses none.
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}
        and not key.startswith(("PYTEST_", "DJANGO_SETTINGS"))
    }
    env.update(
        PATH=path_without_node,
        GATEHOUSE_VAR_DIR=str(tmp_path / "var"),
        DEMO_ADMIN_PASSWORD="demo admin password",
    )
    return env


def _manage(env: dict, *argv: str) -> str:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait_ready(base: str, deadline: float, stack) -> None:
    # Another process's start-up: polled, with the README's deadline.
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, stack.output()
        time.sleep(0.5)


async def _tool_names(url: str, token: str, *, modern: bool) -> set[str]:
    headers = {"Authorization": f"Bearer {token}"}
    if modern:
        async with modern_client(url, headers=headers) as client:
            return {tool.name for tool in (await client.list_tools()).tools}
    version = HANDSHAKE_PROTOCOL_VERSIONS[-1]
    async with handshake_session(url, version=version, headers=headers) as session:
        return {tool.name for tool in (await session.list_tools()).tools}


def _wait_for_demo_tools(url: str, token: str, deadline: float, stack) -> set[str]:
    # The gateway lists a server's tools once its catalog is discovered: polled, with a deadline.
    while True:
        names = asyncio.run(_tool_names(url, token, modern=False))
        if any(name.endswith("current_time") for name in names):
            return names
        assert time.monotonic() < deadline, f"{url} lists {sorted(names)}\n{stack.output()}"
        time.sleep(1)


def test_make_run_serves_the_demo_without_node(embedded_env):
    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    port, supervisor_port, demo_port = free_port(), free_port(), free_port()
    argv = [
        "make",
        "--no-print-directory",
        # The suite's install stands in for `make install`'s.
        "-o",
        ".venv/.installed",
        "run",
        f"PORT={port}",
        f"SUPERVISOR_URL=http://127.0.0.1:{supervisor_port}",
        f"DEMO_SERVER_PORT={demo_port}",
    ]
    stack = start_process(argv, port=port, env=embedded_env, cwd=ROOT, timeout=BUDGET_SECONDS)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, deadline, stack)
        console = httpx.get(f"{base}/accounts/login/", timeout=10)
        assert console.status_code == 200

        token = _manage(
            embedded_env, "issue_token", "--workspace", "demo", "--user", "admin@gatehouse.local"
        ).splitlines()[-1]
        for gateway in ("dev", "support"):
            url = f"{base}/mcp/demo/{gateway}"
            listed = _wait_for_demo_tools(url, token, deadline, stack)
            assert listed == asyncio.run(_tool_names(url, token, modern=True))
        assert time.monotonic() - started < BUDGET_SECONDS

        # Without npx the managed demo server is down, and says why.
        shown = _manage(
            embedded_env,
            "shell",
            "-c",
            "from servers.models import Server;"
            "s = Server.objects.get(workspace__slug='demo', name='everything');"
            "print(s.health, s.health_detail)",
        ).splitlines()[-1]
        assert shown.startswith("down "), shown
        assert "npx" in shown, shown
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        stack.stop(timeout=30)
