"""The managed-server supervisor, end to end: `manage.py run_managed` in a real process, stdio
children, and the MCP SDK's Streamable HTTP client on a real socket.
"""

import asyncio
import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CreateMessageResult,
    ElicitResult,
    TextContent,
    ToolListChangedNotification,
)

from servers import services as server_services
from servers.supervisor.auth import REQUEST_HEADER, sign_request
from tests.support.processes import children_of, is_alive
from tests.support.supervisor import SupervisorAuth, connect, start_supervisor, text_of
from tests.support.supervisor import mcp_url as supervisor_url

REPO = Path(__file__).resolve().parents[2]
STDIO_TOOLS = REPO / "tests" / "upstreams" / "stdio_tools.py"
TIMEOUT = 3.0
CAP = 2

pytestmark = pytest.mark.timeout(120)
SIGNED = SupervisorAuth()


@pytest.fixture(scope="module")
def supervisor(django_db_setup):
    """`run_managed` on a free port, sharing the test database; yields its base URL and pid."""
    url, process = start_supervisor(
        MANAGED_MAX_PROCESSES_PER_SERVER=str(CAP),
        MCP_UPSTREAM_TIMEOUT_SECONDS=str(TIMEOUT),
        MCP_SNAPSHOT_CHECK_SECONDS="0.2",
    )
    yield {"url": url, "pid": process.pid, "process": process}
    children = children_of(process.pid)
    print(process.output())  # Shown by pytest only when a test failed.
    process.stop()
    # A graceful shutdown takes every child with it.
    deadline = time.monotonic() + 5
    while any(map(is_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children and not any(map(is_alive, children))


def _create(workspace, actor, name, command, args, env=None):
    return server_services.create_server(
        workspace=workspace,
        name=name,
        kind="managed",
        command=command,
        args=args,
        env=env or {},
        actor=actor,
    )


@pytest.fixture
def tools_server(transactional_db, acme, alice):
    return _create(acme, alice, "stdio-tools", sys.executable, [str(STDIO_TOOLS)])


def mcp_url(supervisor, server_id) -> str:
    return supervisor_url(supervisor["url"], server_id)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 90))


def test_it_serves_a_stdio_server_over_streamable_http(supervisor, tools_server):
    async def scenario():
        async with connect(mcp_url(supervisor, tools_server.pk)) as session:
            tools = await session.list_tools()
            echoed = await session.call_tool("echo", {"text": "hello"})
            added = await session.call_tool("add", {"a": 2, "b": 3})
            return session.initialize_result, {t.name for t in tools.tools}, echoed, added

    initialize_result, names, echoed, added = run(scenario())
    assert initialize_result.server_info.name == "stdio-tools"
    assert {"echo", "add", "slow", "crash", "ask", "think", "grow"} <= names
    assert text_of(echoed) == "hello"
    assert text_of(added) == "5"

    # A caller that accepts only JSON, offering an older revision, on the same process.
    url = mcp_url(supervisor, tools_server.pk)
    headers = {"Accept": "application/json"}
    body = {
        "jsonrpc": "2.0",
        "id": "init",
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    response = httpx.post(url, json=body, headers=headers, timeout=30, auth=SIGNED)
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-03-26"
    session_id = response.headers["mcp-session-id"]

    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
    call["params"] = {"name": "echo", "arguments": {"text": "json"}}
    reply = httpx.post(
        url, json=call, headers={**headers, "Mcp-Session-Id": session_id}, auth=SIGNED
    )
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["id"] == 7
    assert reply.json()["result"]["content"][0]["text"] == "json"

    ended = httpx.delete(url, headers={**headers, "Mcp-Session-Id": session_id}, auth=SIGNED)
    assert ended.status_code == 204
    gone = httpx.post(
        url, json=call, headers={**headers, "Mcp-Session-Id": session_id}, auth=SIGNED
    )
    assert gone.status_code == 404


def test_sessions_share_processes_up_to_the_cap(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)

    async def scenario():
        async with connect(url) as first, connect(url) as second, connect(url) as third:
            calls = [
                session.call_tool("slow", {"seconds": 0.6, "steps": 2})
                for session in (first, second, third)
                for _ in range(2)
            ]
            results = await asyncio.gather(*calls)
            names = [text_of(await s.call_tool("instance", {})) for s in (first, second, third)]
            return results, names

    results, names = run(scenario())
    assert [text_of(r) for r in results] == ["slept 0.6"] * 6
    assert len(set(names)) == CAP
    # Three sessions, cap two: the third shares a process with one of the first two.
    assert names[2] in names[:2]


def test_progress_is_relayed_and_keeps_a_call_alive_and_silence_times_out(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async def scenario():
        async with connect(url) as session:
            relayed = await session.call_tool(
                "slow", {"seconds": 0.4, "steps": 4}, progress_callback=on_progress
            )
            kept = await session.call_tool(
                "slow", {"seconds": TIMEOUT * 1.5, "steps": 6}, progress_callback=on_progress
            )
            with pytest.raises(MCPError) as silent:
                await session.call_tool(
                    "slow", {"seconds": TIMEOUT + 1.5, "steps": 1, "progress": False}
                )
            after = await session.call_tool("echo", {"text": "still here"})
            return relayed, kept, silent.value, after

    relayed, kept, error, after = run(scenario())
    assert text_of(relayed) == "slept 0.4"
    assert seen[:4] == [(1, 4, "step 1"), (2, 4, "step 2"), (3, 4, "step 3"), (4, 4, "step 4")]
    assert text_of(kept) == f"slept {TIMEOUT * 1.5}"
    assert error.code == -32001
    assert "stdio-tools" in error.error.message
    assert "did not answer tools/call within" in error.error.message
    assert text_of(after) == "still here"


def test_a_crash_fails_the_call_in_flight_and_the_next_call_succeeds(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)

    async def scenario():
        async with connect(url) as session:
            before = text_of(await session.call_tool("instance", {}))
            with pytest.raises(MCPError) as crashed:
                await session.call_tool("crash", {})
            after = text_of(await session.call_tool("instance", {}))
            echoed = await session.call_tool("echo", {"text": "back"})
            return before, crashed.value, after, echoed

    before, error, after, echoed = run(scenario())
    assert error.error.code == -32603
    assert "stdio-tools" in error.error.message and "exited" in error.error.message
    assert after != before
    assert text_of(echoed) == "back"


def test_server_requests_and_list_changed_reach_the_caller(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)

    async def elicit(context, params):
        return ElicitResult(action="accept", content={"answer": f"yes to {params.message}"})

    async def sample(context, params):
        prompt = params.messages[0].content.text
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=prompt.upper()), model="m"
        )

    async def scenario():
        changed = asyncio.Event()

        async def on_message(message):
            if isinstance(message, ToolListChangedNotification):
                changed.set()

        async with connect(
            url, elicitation_callback=elicit, sampling_callback=sample, message_handler=on_message
        ) as session:
            asked = await session.call_tool("ask", {"question": "ready?"})
            thought = await session.call_tool("think", {"prompt": "hi"})
            # `grow` announces tools/list_changed, which travels on the session's GET stream.
            await session.call_tool("grow", {})
            await asyncio.wait_for(changed.wait(), 10)
            tools = await session.list_tools()
            return asked, thought, {t.name for t in tools.tools}

    asked, thought, names = run(scenario())
    assert text_of(asked) == "user said yes to ready?"
    assert text_of(thought) == "model said HI"
    assert "extra" in names


def test_a_changed_definition_restarts_the_children(supervisor, tools_server, alice):
    server_services.update_server(server=tools_server, env={"GREETING": "hello"}, actor=alice)
    url = mcp_url(supervisor, tools_server.pk)

    def update_in_thread():
        try:
            server_services.update_server(
                server=tools_server, env={"GREETING": "bonjour"}, actor=alice
            )
        finally:
            connection.close()  # This thread's connection would outlive the test database.

    async def scenario():
        async with connect(url) as session:
            first = text_of(await session.call_tool("env", {"name": "GREETING"}))
            secret = text_of(await session.call_tool("env", {"name": "SECRET_KEY"}))
            await sync_to_async(update_in_thread)()
            await asyncio.sleep(0.5)
            second = text_of(await session.call_tool("env", {"name": "GREETING"}))
            return first, secret, second

    first, secret, second = run(scenario())
    assert (first, second) == ("hello", "bonjour")
    assert secret == ""


def test_a_server_that_cannot_start_is_an_error_not_a_hang(supervisor, transactional_db, acme):
    alice = acme.memberships.get(role__key="owner").user
    broken = _create(acme, alice, "broken", "/nonexistent/mcp-server", [])
    headers = {"Accept": "application/json"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}
    response = httpx.post(
        mcp_url(supervisor, broken.pk), json=body, headers=headers, timeout=30, auth=SIGNED
    )
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32603
    assert "broken" in error["message"] and "could not be started" in error["message"]


def test_it_requires_each_request_to_be_proven_once(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)
    path = f"/managed/{tools_server.pk}/mcp"
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    json_headers = {"Content-Type": "application/json"}

    def post(header, content=body):
        return httpx.post(url, content=content, headers={**json_headers, REQUEST_HEADER: header})

    missing = httpx.post(url, content=body, headers=json_headers)
    header, _ = sign_request("POST", path, body)
    stamp, nonce, _ = header.split(" ")
    forged = post(f"{stamp} {nonce} {'0' * 64}")
    other_body = post(header, content=b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
    first = post(header)
    replayed = post(header)
    other_path, _ = sign_request("POST", "/managed/999999/mcp", body)
    moved = post(other_path)
    too_old = post(sign_request("POST", path, body, now=time.time() - 120)[0])

    assert first.status_code == 400  # proven, then refused by the bridge: no session
    assert [r.status_code for r in (missing, forged, other_body, replayed, moved, too_old)] == [
        401
    ] * 6
    assert REQUEST_HEADER in missing.json()["error"]["message"]
    assert "already used" in replayed.json()["error"]["message"]
    assert "time window" in too_old.json()["error"]["message"]


def test_unknown_and_unmanaged_servers_are_404(supervisor, transactional_db, acme, alice):
    remote = server_services.create_server(
        workspace=acme, name="remote", kind="remote", url="http://127.0.0.1:9/mcp", actor=alice
    )
    headers = {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    for server_id in (remote.pk, 999_999, "not-a-number"):
        response = httpx.post(
            mcp_url(supervisor, server_id), json=body, headers=headers, auth=SIGNED
        )
        assert response.status_code == 404, server_id
        assert response.json()["error"]["message"]


def test_bad_requests_get_clear_errors(supervisor, tools_server):
    url = mcp_url(supervisor, tools_server.pk)
    headers = {"Content-Type": "application/json"}
    not_json = httpx.post(url, content=b"{", headers=headers, auth=SIGNED)
    batch = httpx.post(url, content=b"[]", headers=headers, auth=SIGNED)
    no_session = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers, auth=SIGNED
    )
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, -32700)
    assert batch.status_code == 400
    assert no_session.status_code == 400


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx is not installed")
def test_it_runs_the_reference_everything_server(supervisor, transactional_db, acme, alice):
    server = _create(
        acme, alice, "everything", "npx", ["-y", "@modelcontextprotocol/server-everything"]
    )
    url = mcp_url(supervisor, server.pk)

    async def scenario():
        async with connect(url) as session:
            tools = await session.list_tools()
            echoed = await session.call_tool("echo", {"message": "through the bridge"})
            return {t.name for t in tools.tools}, echoed

    started = time.monotonic()
    names, echoed = run(scenario())
    assert "echo" in names, names
    assert "through the bridge" in text_of(echoed)
    assert time.monotonic() - started < 90
