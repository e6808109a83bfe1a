"""`manage.py serve` stops on SIGTERM within SHUTDOWN_GRACE_SECONDS even while a client holds an
event stream open, and flushes the audit log on the way out."""

import asyncio
import signal
import sys
import time

import pytest

from audit.models import LogEntry
from tests.audit.load_run import ROOT
from tests.audit.test_load_export import TOOL, LoadGateway
from tests.support.mcp_clients import handshake_session
from tests.support.processes import free_port, start_process

pytestmark = pytest.mark.django_db(transaction=True)

GRACE_SECONDS = 2


async def _hold_a_stream_and_stop(url: str, token: str, server) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    async with handshake_session(url, version="2025-11-25", headers=headers) as session:
        result = await session.call_tool(TOOL, {"text": "before the stop"})
        assert not result.is_error
        # The session's GET stream is open now; the server is asked to stop under it.
        await asyncio.sleep(0.5)
        started = time.monotonic()
        server.popen.send_signal(signal.SIGTERM)
        while server.popen.poll() is None:
            assert time.monotonic() - started < GRACE_SECONDS + 20, "the server did not stop"
            await asyncio.sleep(0.05)
        return time.monotonic() - started


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
    assert took < GRACE_SECONDS + 10, output
    assert server.popen.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    # The call's four hops were flushed before the process exited.
    hops = LogEntry.objects.for_workspace(acme).filter(tool=TOOL).values_list("hop", flat=True)
    assert sorted(hops) == sorted(
        ["client.request", "upstream.request", "upstream.response", "client.response"]
    )
