"""`manage.py run_demo_server`: the demo's remote MCP server, over a real socket, in both eras."""

import json
import socket
import sys

import anyio
import pytest
from django.core.management import CommandError, call_command
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.support.mcp_clients import handshake_session, modern_client
from tests.support.processes import HOST, free_port, start_process


@pytest.fixture(scope="module")
def demo_server_url():
    port = free_port()
    argv = [sys.executable, "manage.py", "run_demo_server", "--port", str(port)]
    process = start_process(argv, port=port)
    yield f"http://{HOST}:{port}/mcp"
    process.stop()


def _result(call) -> dict:
    assert not call.is_error, call.content
    return json.loads(call.content[0].text)


async def _handshake(url: str) -> tuple[set[str], dict, dict]:
    async with handshake_session(url, version=HANDSHAKE_PROTOCOL_VERSIONS[-1]) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        now = _result(await session.call_tool("current_time", {"timezone": "Asia/Tokyo"}))
        converted = _result(
            await session.call_tool(
                "convert_time",
                {"time": "09:30", "source_timezone": "UTC", "target_timezone": "Asia/Kolkata"},
            )
        )
        return tools, now, converted


async def _modern(url: str) -> tuple[set[str], bool, str]:
    async with modern_client(url) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        wrong = await client.call_tool("current_time", {"timezone": "Mars/Olympus_Mons"})
        return tools, wrong.is_error, wrong.content[0].text


def test_it_serves_world_time_to_a_handshake_era_client(demo_server_url):
    tools, now, converted = anyio.run(_handshake, demo_server_url)

    assert tools == {"current_time", "convert_time"}
    assert now["timezone"] == "Asia/Tokyo" and now["utc_offset"] == "+0900"
    assert converted["target"]["datetime"].endswith("T15:00+05:30")


def test_a_2026_client_gets_a_tool_error_for_an_unknown_zone(demo_server_url):
    tools, is_error, text = anyio.run(_modern, demo_server_url)

    assert tools == {"current_time", "convert_time"}
    assert is_error and "Unknown time zone 'Mars/Olympus_Mons'" in text


def test_a_taken_port_is_one_line_not_a_traceback():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            CommandError, match=rf"^The demo server cannot listen: {HOST}:{port} is in use\.$"
        ):
            call_command("run_demo_server", "--port", str(port))
