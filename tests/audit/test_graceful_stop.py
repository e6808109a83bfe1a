"""`manage.py serve` stops on SIGTERM within SHUTDOWN_GRACE_SECONDS even while a client holds an
event stream open, and flushes the audit log on the way out."""

import asyncio
import signal
import sys
import time

import aiohttp
import pytest

from audit.models import LogEntry
from tests.audit.load_run import ROOT
from tests.audit.test_load_export import TOOL, LoadGateway
from tests.support.processes import free_port, start_process

pytestmark = pytest.mark.django_db(transaction=True)

GRACE_SECONDS = 5
VERSION = "2025-11-25"


async def _hold_a_stream_and_stop(url: str, token: str, server) -> float:
    """Open a session and its GET event stream (proven open by its first bytes), call a tool,
    then SIGTERM the server: the stream must end and the server exit."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    hello = {
        "protocolVersion": VERSION,
        "capabilities": {},
        "clientInfo": {"name": "graceful-stop", "version": "1"},
    }
    timeout = aiohttp.ClientTimeout(total=GRACE_SECONDS + 30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.post(url, headers=headers, json=_rpc(1, "initialize", hello)) as reply:
            assert reply.status == 200, await reply.text()
            session = reply.headers["Mcp-Session-Id"]
            await reply.read()
        headers.update({"Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION})
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with http.post(url, headers=headers, json=note) as reply:
            assert reply.status in (200, 202)
        call = _rpc(2, "tools/call", {"name": TOOL, "arguments": {"text": "before the stop"}})
        async with http.post(url, headers=headers, json=call) as reply:
            assert reply.status == 200 and "before the stop" in await reply.text()
        stream_headers = {**headers, "Accept": "text/event-stream"}
        async with http.get(url, headers=stream_headers) as stream:
            assert stream.status == 200
            assert await stream.content.readany()  # the stream is open: its first bytes came
            started = time.monotonic()
            server.popen.send_signal(signal.SIGTERM)
            while await stream.content.readany():
                pass  # heartbeats until the server ends the stream
        ended = time.monotonic() - started
    while server.popen.poll() is None:
        assert time.monotonic() - started < GRACE_SECONDS + 20, "the server did not stop"
        await asyncio.sleep(0.05)
    return max(ended, time.monotonic() - started)


def _rpc(request_id: int, method: str, params: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def test_an_open_event_stream_does_not_keep_the_server_from_stopping(
    acme, alice, bob, echo_upstream, settings, tmp_path
):
    gateway = LoadGateway(acme, alice, bob, echo_upstream, settings, tmp_path)
    port = free_port()
    env = {**gateway.env, "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
    argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
    server = start_process(argv, port=port, env=env, cwd=ROOT)
    try:
        took = asyncio.run(
            _hold_a_stream_and_stop(f"http://127.0.0.1:{port}/mcp/acme/load", gateway.token, server)
        )
    finally:
        output = server.output()
        server.stop()
    print(f"stopped {took:.2f} s after SIGTERM")
    # The stream ended at the signal, not when the grace ran out and uvicorn cancelled it.
    assert took < GRACE_SECONDS, output
    assert server.popen.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    # The call's four hops were flushed before the process exited.
    hops = LogEntry.objects.for_workspace(acme).filter(tool=TOOL).values_list("hop", flat=True)
    assert sorted(hops) == sorted(
        ["client.request", "upstream.request", "upstream.response", "client.response"]
    )
