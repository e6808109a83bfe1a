"""Managed (stdio) servers behind a gateway, run by the supervisor process."""

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from gateways import services as gateway_services
from servers import services as server_services
from servers.discovery import refresh_catalog
from servers.models import Server
from tests.support import node
from tests.support.live_gateway import connect
from tests.support.supervisor import start_supervisor_on_socket

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def supervisor_url(django_db_setup):
    """The supervisor on its default kind of address, a unix socket."""
    directory = tempfile.mkdtemp(prefix="gh-supervisor-")
    socket_path = os.path.join(directory, "run", "supervisor.sock")
    process = start_supervisor_on_socket(socket_path, MCP_SNAPSHOT_CHECK_SECONDS="0.2")
    yield f"unix://{socket_path}"
    print(process.output())  # Shown by pytest only when a test failed.
    process.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def managed(deployment, alice, supervisor_url, settings):
    settings.MANAGED_SUPERVISOR_URL = supervisor_url
    everything_argv = node.server_everything_command()
    everything = server_services.create_server(
        workspace=deployment.acme,
        name="everything",
        kind="managed",
        command=everything_argv[0],
        args=everything_argv[1:],
        actor=alice,
    )
    stdio_tools = server_services.create_server(
        workspace=deployment.acme,
        name="stdio-tools",
        kind="managed",
        command=sys.executable,
        args=[str(REPO / "tests/upstreams/stdio_tools.py")],
        actor=alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway,
        server=everything,
        namespace="ev",
        tool_mode="selected",
        tool_allow=["echo", "get-sum"],
        actor=alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=stdio_tools, namespace="st", actor=alice
    )
    # Both started once before the test lists them: a cold start in the sandbox on a busy
    # machine can outlast a listing, which then leaves a server's tools out.
    for server in (everything, stdio_tools):
        assert refresh_catalog(server=server, timeout=60).health == Server.Health.UP
    return deployment


def test_a_gateway_aggregates_managed_and_remote_servers_with_curation(managed, bob):
    token = managed.token_for(bob)

    async def scenario():
        async with connect(managed, token, "legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            everything = await client.call_tool("ev__echo", {"message": "from stdio"})
            remote = await client.call_tool("notes__echo", {"text": "from http"})
            return names, everything, remote

    names, everything, remote = asyncio.run(scenario())
    assert {n for n in names if n.startswith("ev__")} == {"ev__echo", "ev__get-sum"}
    assert "st__crash" in names and "notes__echo" in names
    assert "from stdio" in everything.content[0].text
    assert remote.content[0].text == "from http"


def test_a_managed_server_that_dies_mid_call_comes_back(managed, bob):
    token = managed.token_for(bob)

    async def scenario():
        async with connect(managed, token, "legacy") as client:
            before = await client.call_tool("st__instance", {})
            with pytest.raises(MCPError) as died:
                await client.call_tool("st__crash", {})
            for _ in range(40):
                try:
                    after = await client.call_tool("st__instance", {})
                    break
                except MCPError:
                    await asyncio.sleep(0.25)
            return before, died.value, after

    before, died, after = asyncio.run(scenario())
    assert "exited" in died.message
    assert after.content[0].text != before.content[0].text
