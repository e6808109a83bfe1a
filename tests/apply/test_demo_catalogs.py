"""The demo as `make run` serves it, with its servers on real sockets: the first scheduled
health check marks both up without anyone clicking, every tool the demo names exists on its
server, both gateways list the world-time tools, and without Node the managed server says why
it is not running."""

import asyncio
import os
import shutil
import sys
from types import SimpleNamespace

import pytest

from gateways.models import Assignment
from identities import services as identity_services
from servers import health_checks
from servers.models import Server
from teams.models import Membership, Workspace
from tests.support import node
from tests.support.live_gateway import connect
from tests.support.processes import HOST, free_port, start_process
from tests.support.supervisor import start_supervisor

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def demo(transactional_db, settings, tmp_path, monkeypatch, run):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    run("load_demo")
    return Workspace.objects.get(slug="demo")


@pytest.fixture
def demo_time_server(demo):
    """`run_demo_server` on a free port, the demo's `time` server pointed at it."""
    port = free_port()
    process = start_process(
        [sys.executable, "manage.py", "run_demo_server", "--port", str(port)], port=port
    )
    Server.objects.for_workspace(demo).filter(name="time").update(url=f"http://{HOST}:{port}/mcp")
    yield
    process.stop()


@pytest.fixture
def supervisor(settings, django_db_setup):
    def start(**environment):
        url, process = start_supervisor(**environment)
        settings.MANAGED_SUPERVISOR_URL = url
        started.append(process)

    started = []
    yield start
    for process in started:
        process.stop()


def tool_names(server) -> set[str]:
    return {tool["name"] for tool in server.catalog["tools"]}


def test_the_first_check_finds_every_tool_the_demo_names(demo, demo_time_server, supervisor):
    try:
        everything = node.server_everything_command()
    except node.NodeToolingMissing as missing:
        pytest.skip(f"the reference server is not installed: {missing}")
    # The package npx would download, as installed for the tests (nothing is fetched here).
    Server.objects.for_workspace(demo).filter(name="everything").update(
        command=everything[0], args=everything[1:]
    )
    supervisor()

    assert health_checks.check_all_servers() == 2

    servers = {s.name: s for s in Server.objects.for_workspace(demo)}
    assert {name: s.health for name, s in servers.items()} == {"time": "up", "everything": "up"}
    assert tool_names(servers["time"]) == {"current_time", "convert_time"}
    for assignment in Assignment.objects.for_workspace(demo).select_related("server", "gateway"):
        named = set(assignment.tool_allow) | set(assignment.tool_overrides)
        missing = named - tool_names(servers[assignment.server.name])
        assert not missing, f"{assignment.gateway.slug}/{assignment.namespace} names {missing}"
    # Both gateways serve the demo's remote server.
    assert set(
        Assignment.objects.for_workspace(demo)
        .filter(server__name="time")
        .values_list("gateway__slug", flat=True)
    ) == {"dev", "support"}


def test_both_gateways_list_the_world_time_tools(demo, demo_time_server, gateway_base):
    membership = Membership.objects.get(workspace=demo, user__email="admin@gatehouse.local")
    token = identity_services.issue_token(
        membership=membership, name="demo", actor=membership.user
    ).secret

    async def tools_of(slug):
        gateway = SimpleNamespace(url=f"{gateway_base}/mcp/demo/{slug}")
        async with connect(gateway, token) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    for slug in ("dev", "support"):
        tools = asyncio.run(tools_of(slug))
        assert {"time__current_time", "time__convert_time"} <= tools, (slug, tools)


def test_without_node_the_managed_server_says_why_it_is_not_running(demo, supervisor):
    # The supervisor's PATH holds Python, not Node.
    path = os.path.dirname(sys.executable)
    assert shutil.which("npx", path=path) is None
    supervisor(PATH=path)
    everything = Server.objects.for_workspace(demo).get(name="everything")

    assert health_checks.check_server(everything.pk) == "down"

    everything.refresh_from_db()
    assert "'npx' was not found on PATH" in everything.health_detail
