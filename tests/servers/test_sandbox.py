"""The managed-server sandbox, end to end: servers started by a real supervisor try to read the
platform's secrets, exhaust the host and reach the network, and find they cannot."""

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from servers import services as server_services
from servers.discovery import refresh_catalog
from servers.models import Server
from servers.supervisor.sandbox import running_as_root
from tests.support import managed as managed_settings
from tests.support.supervisor import connect, mcp_url, start_supervisor, text_of

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "tests" / "upstreams" / "sandbox_probe.py"
STDIO_TOOLS = REPO / "tests" / "upstreams" / "stdio_tools.py"
CREDENTIALS_KEYS = "a-credentials-key-the-servers-must-not-see"
MAX_PROCESSES = 48
MEMORY_MB = 1024

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def supervisor(django_db_setup):
    url, process = start_supervisor(
        CREDENTIALS_KEYS=CREDENTIALS_KEYS,
        MANAGED_SANDBOX_MAX_PROCESSES=str(MAX_PROCESSES),
        MANAGED_SANDBOX_MEMORY_MB=str(MEMORY_MB),
        MANAGED_MAX_PROCESSES_PER_SERVER="1",
    )
    yield {"url": url, "process": process}
    print(process.output())  # Shown by pytest only when a test failed.
    process.stop()


def _managed(workspace, actor, name, script, **fields):
    return server_services.create_server(
        workspace=workspace,
        name=name,
        kind="managed",
        command=sys.executable,
        args=[str(script)],
        actor=actor,
        **fields,
    )


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 150))


async def call(url, tool, arguments=None) -> str:
    async with connect(url) as session:
        return text_of(await session.call_tool(tool, arguments or {}))


def test_a_managed_server_reads_none_of_the_platforms_secrets(
    supervisor, transactional_db, acme, alice
):
    neighbour = _managed(acme, alice, "neighbour", STDIO_TOOLS)
    probe = _managed(acme, alice, "probe", PROBE, env={"API_TOKEN": "its-own-secret"})
    var_dir = Path(settings.VAR_DIR)
    database = settings.DATABASES["default"]
    paths = [
        str(var_dir),
        str(var_dir / "secret_key"),
        str(var_dir / "managed" / str(neighbour.pk)),
        str(var_dir / "managed" / str(neighbour.pk) / "home"),
        str(REPO / "manage.py"),
        str(REPO / "config" / "settings.py"),
        str(REPO / "servers"),
        f"/proc/{supervisor['process'].pid}/environ",
        f"/proc/{os.getpid()}/environ",
        "/proc/1/environ",
    ]
    if database["ENGINE"].endswith("sqlite3"):
        paths.append(str(database["NAME"]))
    secrets = [settings.SECRET_KEY, CREDENTIALS_KEYS, str(database["NAME"])]

    async def scenario():
        assert await call(mcp_url(supervisor["url"], neighbour.pk), "echo", {"text": "up"})
        url = mcp_url(supervisor["url"], probe.pk)
        found = await call(url, "findings", {"paths": paths, "secrets": secrets})
        control = await call(url, "findings", {"paths": ["/etc/hosts"], "secrets": []})
        whoami = await call(url, "whoami")
        return json.loads(found), json.loads(control), json.loads(whoami)

    found, control, whoami = run(scenario())
    assert found == []
    assert control == ["read /etc/hosts"]  # The probe does find what it may read.
    # PWD comes from bubblewrap's --chdir, LC_CTYPE from Python's own locale coercion.
    assert set(whoami["env"]) - {"PWD", "LC_CTYPE"} == {"API_TOKEN", "HOME", "PATH"}
    assert whoami["home"] == whoami["cwd"] == "/home/server"
    if running_as_root():
        uid = settings.MANAGED_SANDBOX_UID_BASE + probe.pk
        assert (whoami["uid"], whoami["gid"]) == (uid, uid)


def test_a_fork_bomb_and_a_huge_allocation_leave_the_platform_serving(
    supervisor, transactional_db, acme, alice
):
    neighbour = _managed(acme, alice, "neighbour", STDIO_TOOLS)
    bomber = _managed(acme, alice, "bomber", PROBE)
    bomber_url = mcp_url(supervisor["url"], bomber.pk)

    async def scenario():
        async with connect(bomber_url) as session:
            bombed = text_of(await session.call_tool("fork_bomb", {"seconds": 20}))
            allocated = text_of(await session.call_tool("allocate", {"megabytes": 10 * 1024}))
            still = text_of(await session.call_tool("echo", {"text": "still here"}))
        other = await call(mcp_url(supervisor["url"], neighbour.pk), "echo", {"text": "fine"})
        return bombed, allocated, still, other

    bombed, allocated, still, other = run(scenario())
    started = int(bombed.split()[1].rstrip(","))
    assert "Resource temporarily unavailable" in bombed
    if running_as_root():
        assert started < MAX_PROCESSES
    assert allocated == "refused: MemoryError"
    assert (still, other) == ("still here", "fine")


def test_a_server_without_network_cannot_open_a_connection(
    supervisor, transactional_db, acme, alice
):
    offline = _managed(acme, alice, "offline", PROBE, network=False)
    online = _managed(acme, alice, "online", PROBE)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        async def scenario():
            arguments = {"host": "127.0.0.1", "port": port}
            refused = await call(mcp_url(supervisor["url"], offline.pk), "connect", arguments)
            allowed = await call(mcp_url(supervisor["url"], online.pk), "connect", arguments)
            return refused, allowed

        refused, allowed = run(scenario())
    assert refused.startswith("failed:")
    assert allowed == "connected"


def test_a_server_installed_under_tmp_is_seen_over_its_own_private_tmp(
    transactional_db, acme, alice
):
    # A checkout or install in /tmp (a CI clone, `mktemp -d`) lies beneath the server's own /tmp.
    shelf = Path(tempfile.mkdtemp(prefix="installed-", dir="/tmp"))  # noqa: S108
    elsewhere = Path(tempfile.mkdtemp(prefix="not-bound-", dir="/tmp"))  # noqa: S108
    try:
        shelf.chmod(0o755)  # mkdtemp's 0700 would keep a server's own user out
        script = Path(shutil.copy(PROBE, shelf / "probe.py"))
        (elsewhere / "secret").write_text("the host's /tmp")
        readonly = f"{managed_settings.environment()['MANAGED_SANDBOX_READONLY_PATHS']},{shelf}"
        url, process = start_supervisor(MANAGED_SANDBOX_READONLY_PATHS=readonly)
        try:
            server = _managed(acme, alice, "from-tmp", script)
            paths = [str(script), str(elsewhere / "secret"), str(elsewhere)]
            found = run(call(mcp_url(url, server.pk), "findings", {"paths": paths, "secrets": []}))
        finally:
            process.stop()
    finally:
        shutil.rmtree(shelf, ignore_errors=True)
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert json.loads(found) == [f"read {script}"]


def _checked_under(settings, acme, alice, name, **environment) -> tuple[Server, Path]:
    """A server checked once through a supervisor started with `environment`, and where its
    home would be."""
    url, process = start_supervisor(**environment)
    try:
        settings.MANAGED_SUPERVISOR_URL = url
        server = _managed(acme, alice, name, STDIO_TOOLS)
        # Ids restart after a flush: an earlier test's server of this id may have left a home.
        home = Path(settings.VAR_DIR) / "managed" / str(server.pk) / "home"
        shutil.rmtree(home, ignore_errors=True)
        refresh_catalog(server=server, timeout=30)
    finally:
        process.stop()
    server.refresh_from_db()
    return server, home


def test_without_a_sandbox_a_server_does_not_start_and_says_why(
    transactional_db, acme, alice, settings
):
    server, home = _checked_under(
        settings, acme, alice, "unconfined", MANAGED_SANDBOX_BWRAP="/nonexistent/bwrap"
    )
    assert server.health == Server.Health.DOWN
    assert "bubblewrap was not found at /nonexistent/bwrap" in server.health_detail
    assert "MANAGED_SANDBOX=off" in server.health_detail
    assert not home.exists()


@pytest.mark.parametrize("covering", ["/home", "/home/", "/"])
def test_a_read_only_path_holding_the_servers_home_is_refused_in_one_line(
    transactional_db, acme, alice, settings, covering
):
    readonly = f"{managed_settings.environment()['MANAGED_SANDBOX_READONLY_PATHS']},{covering}"
    server, home = _checked_under(
        settings, acme, alice, "covered", MANAGED_SANDBOX_READONLY_PATHS=readonly
    )
    assert server.health == Server.Health.DOWN
    assert f"MANAGED_SANDBOX_READONLY_PATHS lists {covering}, " in server.health_detail
    assert "(/home/server)" in server.health_detail
    assert not home.exists()


def test_the_operator_may_opt_out_of_the_sandbox_loudly(transactional_db, acme, alice, settings):
    url, process = start_supervisor(
        MANAGED_SANDBOX_BWRAP="/nonexistent/bwrap", MANAGED_SANDBOX="off"
    )
    try:
        server = _managed(acme, alice, "unconfined", STDIO_TOOLS)
        echoed = run(call(mcp_url(url, server.pk), "echo", {"text": "unconfined"}))
        output = process.output(tail=20000)
    finally:
        process.stop()
    assert echoed == "unconfined"
    assert "starts WITHOUT a sandbox (MANAGED_SANDBOX=off)" in output


def test_the_supervisor_refuses_a_command_taken_off_the_list(
    transactional_db, acme, alice, settings
):
    server = _managed(acme, alice, "delisted", STDIO_TOOLS)
    url, process = start_supervisor(MANAGED_ALLOWED_COMMANDS="npx")
    try:
        settings.MANAGED_SUPERVISOR_URL = url
        refresh_catalog(server=server, timeout=30)
    finally:
        process.stop()
    server.refresh_from_db()
    assert server.health == Server.Health.DOWN
    assert f"its command '{sys.executable}' is not in MANAGED_ALLOWED_COMMANDS" in (
        server.health_detail
    )
