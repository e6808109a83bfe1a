"""Any worker serves any request of any session: two worker processes, one session."""

import os
import sys
import uuid

import httpx
import pytest

from tests.support.database import database_url
from tests.support.processes import free_port, port_is_open, start_process


@pytest.fixture
def two_workers(deployment, settings, tmp_path):
    if not port_is_open(6379):
        pytest.skip("the multi-worker set-up needs Redis on 127.0.0.1:6379")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "CACHE_KEY_PREFIX": f"workers-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": settings.SECRET_KEY,
        "GATEHOUSE_VAR_DIR": str(tmp_path),
    }
    workers = []
    try:
        for _ in range(2):
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
            workers.append(
                (start_process(argv, port=port, env=env), f"http://127.0.0.1:{port}/mcp/acme/dev")
            )
        yield [url for _, url in workers]
    finally:
        for process, _ in workers:
            process.stop()


def rpc(url, headers, request_id, method, params=None):
    response = httpx.post(
        url,
        headers=headers,
        timeout=30,
        json={"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}},
    )
    return response


def test_two_workers_serve_one_session_alternately(deployment, bob, two_workers):
    first, second = two_workers
    token = deployment.token_for(bob)
    headers = deployment.headers(token)
    init = rpc(
        first,
        headers,
        1,
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "alternating", "version": "1"},
        },
    )
    assert init.status_code == 200
    headers = {
        **headers,
        "Mcp-Session-Id": init.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-06-18",
    }
    for request_id, url in enumerate([second, first, second, first], start=2):
        reply = rpc(
            url,
            headers,
            request_id,
            "tools/call",
            {"name": "notes__echo", "arguments": {"text": f"call {request_id}"}},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"]["content"][0]["text"] == f"call {request_id}"
    # Ending the session on one worker ends it on every worker.
    assert httpx.delete(second, headers=headers).status_code == 204
    assert rpc(first, headers, 9, "ping").status_code == 404
