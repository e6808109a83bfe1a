"""Any worker serves any request of any session: two worker processes, one session."""

import time

import httpx


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
    # Ending the session on one worker ends it on every worker, within the near cache's max age.
    assert httpx.delete(second, headers=headers).status_code == 204
    started = time.monotonic()
    while rpc(first, headers, 9, "ping").status_code != 404:
        assert time.monotonic() - started < 1.0, "the session is still served"
