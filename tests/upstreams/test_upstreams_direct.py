"""The test upstreams work on their own, before any gateway stands in front of them.

Each era mode of the catalog server is exercised with the SDK client pinned to 2025-06-18 and to
2026-07-28, the Inspector CLI lists and calls its tools, the reference server runs over stdio,
and the conformance suite's server scenarios (0.1.16, and the 0.2 alpha's 2026-07-28 ones) run
against the conformance server.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION, ToolListChangedNotification

from tests.support import conformance_runs, node
from tests.support.conformance_runs import FAIL, PASS, SKIPPED, with_outcome
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

# Scenarios of conformance 0.2.0-alpha.12 `server --requirements 2026-07-28` that pass against
# conformance_server.py: all of them. The first 37 are what a 2026-07-28 server must pass; the
# tasks extension's and the pending ones are run and reported beside them.
REQUIRED_2026 = {
    "server-stateless",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
    "server-sse-multiple-streams",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "sep-2164-resource-not-found",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
    "caching",
    "input-required-result-basic-elicitation",
    "input-required-result-basic-sampling",
    "input-required-result-basic-list-roots",
    "input-required-result-request-state",
    "input-required-result-multiple-input-requests",
    "input-required-result-multi-round",
    "input-required-result-missing-input-response",
    "input-required-result-non-tool-request",
    "input-required-result-result-type",
    "input-required-result-unsupported-methods",
    "input-required-result-tampered-state",
    "input-required-result-capability-check",
    "input-required-result-ignore-extra-params",
    "input-required-result-validate-input",
}
TASKS_2026 = {
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-request-headers",
    "tasks-dispatch-and-envelope",
    "tasks-required-task-error",
    "tasks-mrtr-composition",
}
PENDING_2026 = {
    "json-schema-2020-12",
    "http-header-validation",
    "http-custom-header-server-validation",
}
EXPECTED_PASSING_2026 = REQUIRED_2026 | TASKS_2026 | PENDING_2026
# Its one check is skipped by the suite itself, which has yet to watch subscriptions/listen.
EXPECTED_SKIPPED_2026 = {"tasks-status-notifications"}


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
    outcomes = conformance_runs.run_server_suite(conformance_server_url, tmp_path, timeout=240)

    assert with_outcome(outcomes, PASS) == EXPECTED_PASSING
    assert with_outcome(outcomes, FAIL) == EXPECTED_FAILING


def test_conformance_2026_07_28_scenarios(conformance_server_url, tmp_path):
    outcomes = conformance_runs.run_2026_suite(conformance_server_url, tmp_path, timeout=240)

    assert with_outcome(outcomes, FAIL) == set()
    assert with_outcome(outcomes, PASS) == EXPECTED_PASSING_2026
    assert with_outcome(outcomes, SKIPPED) == EXPECTED_SKIPPED_2026
