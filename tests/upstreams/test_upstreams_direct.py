"""The test upstreams work on their own, before any gateway stands in front of them.

Each era mode of the catalog server is exercised with the SDK client pinned to 2025-06-18 and to
2026-07-28, the Inspector CLI lists and calls its tools, the reference server runs over stdio,
and the conformance suite's server scenarios run against the conformance server.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION, ToolListChangedNotification

from tests.support import node
from tests.support.mcp_clients import handshake_session, modern_client

HANDSHAKE = "2025-06-18"
MODERN = "2026-07-28"
CATALOG_TOOLS = {
    "search_docs",
    "get_weather",
    "echo",
    "whoami",
    "create_ticket",
    "delete_ticket",
    "notify_tools_changed",
    "enable_beta_tool",
}

# Scenarios of `conformance server --suite all` that pass against conformance_server.py.
# server-sse-polling is the one that does not: see docs/conformance.md.
EXPECTED_PASSING = {
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "json-schema-2020-12",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
    "server-sse-multiple-streams",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
}
EXPECTED_FAILING = {"server-sse-polling"}
RESULT_DIR = re.compile(r"server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z")


def _text(result) -> str:
    return result.content[0].text


def _mcp_error(exc: BaseException) -> MCPError | None:
    """The MCPError inside the exception groups the SDK's task groups wrap errors in."""
    if isinstance(exc, MCPError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        if (found := _mcp_error(inner)) is not None:
            return found
    return None


async def _use_handshake(url: str, headers: dict[str, str] | None = None) -> dict:
    async with handshake_session(url, version=HANDSHAKE, headers=headers) as session:
        tools = (await session.list_tools()).tools
        echoed = await session.call_tool("echo", {"text": "hello"})
        whoami = await session.call_tool("whoami", {})
        return {
            "version": session.protocol_version,
            "tools": {tool.name: tool for tool in tools},
            "echo": _text(echoed),
            "whoami": json.loads(_text(whoami)),
        }


async def _use_modern(url: str, headers: dict[str, str] | None = None) -> dict:
    async with modern_client(url, headers=headers) as client:
        tools = (await client.list_tools()).tools
        echoed = await client.call_tool("echo", {"text": "hello"})
        whoami = await client.call_tool("whoami", {})
        return {
            "version": client.protocol_version,
            "tools": {tool.name: tool for tool in tools},
            "echo": _text(echoed),
            "whoami": json.loads(_text(whoami)),
        }


CLIENTS = {HANDSHAKE: _use_handshake, MODERN: _use_modern}


@pytest.mark.parametrize(
    ("url_fixture", "version"),
    [
        ("catalog_server_url", HANDSHAKE),
        ("catalog_server_url", MODERN),
        ("catalog_handshake_url", HANDSHAKE),
        ("catalog_modern_url", MODERN),
        ("catalog_json_url", HANDSHAKE),
        ("catalog_json_url", MODERN),
    ],
)
def test_catalog_lists_and_calls_tools(request, url_fixture, version):
    url = request.getfixturevalue(url_fixture)

    seen = anyio.run(CLIENTS[version], url)

    assert seen["version"] == version
    assert set(seen["tools"]) == CATALOG_TOOLS
    assert seen["tools"]["search_docs"].annotations.read_only_hint is True
    assert seen["tools"]["delete_ticket"].annotations.destructive_hint is True
    assert seen["tools"]["create_ticket"].annotations.destructive_hint is False
    assert seen["echo"] == "hello"


@pytest.mark.parametrize(
    ("url_fixture", "version", "code"),
    [
        # A handshake-only server answers like a 2025 server: not -32022, so clients fall back.
        ("catalog_handshake_url", MODERN, INVALID_REQUEST),
        ("catalog_modern_url", HANDSHAKE, UNSUPPORTED_PROTOCOL_VERSION),
    ],
)
def test_catalog_refuses_the_other_era(request, url_fixture, version, code):
    url = request.getfixturevalue(url_fixture)

    with pytest.raises(BaseException) as raised:  # noqa: B017 - the SDK wraps it in task groups
        anyio.run(CLIENTS[version], url)

    error = _mcp_error(raised.value)
    assert error is not None, raised.value
    assert error.code == code
    if code == UNSUPPORTED_PROTOCOL_VERSION:
        assert error.error.data["supported"] == [MODERN]


@pytest.mark.parametrize(
    ("url_fixture", "negotiated"),
    [
        ("catalog_handshake_url", "2025-11-25"),
        ("catalog_modern_url", MODERN),
        ("catalog_server_url", MODERN),
    ],
)
def test_auto_client_negotiates_the_served_era(request, url_fixture, negotiated):
    url = request.getfixturevalue(url_fixture)

    async def connect() -> tuple[str, str]:
        async with Client(url, mode="auto") as client:
            result = await client.call_tool("echo", {"text": "negotiated"})
            return client.protocol_version, _text(result)

    assert anyio.run(connect) == (negotiated, "negotiated")


@pytest.mark.parametrize("version", [HANDSHAKE, MODERN])
def test_whoami_reports_the_authorization_header_received(catalog_server_url, version):
    with_token = anyio.run(CLIENTS[version], catalog_server_url, {"Authorization": "Bearer up-1"})
    without = anyio.run(CLIENTS[version], catalog_server_url)

    assert with_token["whoami"] == {"authorization": "Bearer up-1"}
    assert without["whoami"] == {"authorization": None}


def test_catalog_announces_tool_list_changes(catalog_server_url):
    received = []

    async def on_message(message) -> None:
        if isinstance(message, ToolListChangedNotification):
            received.append(message)

    async def run() -> tuple[bool, str]:
        async with handshake_session(
            catalog_server_url, version=HANDSHAKE, message_handler=on_message
        ) as session:
            advertised = session.server_capabilities.tools.list_changed
            result = await session.call_tool("notify_tools_changed", {})
            with anyio.fail_after(5):
                while not received:
                    await anyio.sleep(0.05)
            return advertised, _text(result)

    advertised, text = anyio.run(run)

    assert advertised is True
    assert text == "tools/list_changed sent"
    assert len(received) == 1


def _inspector(tmp_path: Path, *args: str) -> dict:
    command = node.inspector_cli_command(*args, "--format", "json", "--quiet")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=node.isolated_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["result"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_cli_lists_and_calls_catalog_tools(catalog_server_url, tmp_path, era):
    common = (catalog_server_url, "--transport", "http", "--protocol-era", era)

    listed = _inspector(tmp_path, *common, "--method", "tools/list")
    called = _inspector(
        tmp_path,
        *common,
        "--method",
        "tools/call",
        "--tool-name",
        "get_weather",
        "--tool-arg",
        "city=Lisbon",
    )

    assert {tool["name"] for tool in listed["tools"]} == CATALOG_TOOLS
    assert called["content"][0]["text"] == "Weather in Lisbon: 21C, clear skies"


def test_server_everything_runs_over_stdio(server_everything_argv):
    params = StdioServerParameters(
        command=server_everything_argv[0], args=server_everything_argv[1:]
    )

    async def run() -> tuple[set[str], str]:
        async with Client(params, mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("echo", {"message": "over stdio"})
            return tools, _text(result)

    tools, text = anyio.run(run)

    assert "echo" in tools
    assert "over stdio" in text


def test_conformance_server_scenarios(conformance_server_url, tmp_path):
    command = node.conformance_command(
        "server", "--url", conformance_server_url, "--suite", "all", "--output-dir", str(tmp_path)
    )
    subprocess.run(
        command, capture_output=True, text=True, timeout=240, env=node.isolated_env(tmp_path)
    )

    outcomes = {}
    for checks_file in tmp_path.glob("server-*/checks.json"):
        # Result folders are named server-<scenario>-<ISO timestamp with dashes>.
        scenario = RESULT_DIR.fullmatch(checks_file.parent.name).group(1)
        statuses = {check["status"] for check in json.loads(checks_file.read_text())}
        # The suite's own baseline logic counts a WARNING as a failure too.
        outcomes[scenario] = not statuses & {"FAILURE", "WARNING"}

    assert {s for s, passed in outcomes.items() if passed} == EXPECTED_PASSING
    assert {s for s, passed in outcomes.items() if not passed} == EXPECTED_FAILING
