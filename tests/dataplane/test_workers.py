"""Any worker serves any request of any session: two worker processes, one session."""

import asyncio
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


def test_a_call_on_one_worker_is_cancelled_by_a_notification_sent_to_another(
    deployment, bob, two_workers
):
    """The client's `notifications/cancelled` lands on the worker that is not running the call;
    the cancellation reaches the call's worker through Redis, which cancels it upstream."""
    first, second = two_workers
    token = deployment.token_for(bob)
    init = rpc(
        first,
        deployment.headers(token),
        1,
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "cancelling", "version": "1"},
        },
    )
    assert init.status_code == 200, init.text
    headers = {
        **deployment.headers(token),
        "Mcp-Session-Id": init.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-06-18",
        "Accept": "application/json",
    }

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as http:
            call = asyncio.ensure_future(
                http.post(
                    first,
                    headers=headers,
                    json={
                        "jsonrpc": "2.0",
                        "id": 7,
                        "method": "tools/call",
                        "params": {"name": "notes__wait", "arguments": {"seconds": 20}},
                    },
                )
            )
            # The call has reached the upstream once the upstream says it is waiting.
            for _ in range(100):
                if await _upstream_waiting(http, second, headers):
                    break
                await asyncio.sleep(0.05)
            cancel = await http.post(
                second,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 7, "reason": "changed my mind"},
                },
            )
            answer = await asyncio.wait_for(call, timeout=10)
            return cancel, answer

    cancel, answer = asyncio.run(scenario())
    assert cancel.status_code == 202
    assert answer.json()["error"]["code"] == -32800
    for _ in range(50):
        check = rpc(second, headers, 8, "tools/call", {"name": "notes__was_cancelled"})
        if check.json()["result"]["content"][0]["text"] == "yes":
            break
        time.sleep(0.1)
    assert check.json()["result"]["content"][0]["text"] == "yes"


async def _upstream_waiting(http, url, headers) -> bool:
    reply = await http.post(
        url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 99,
            "method": "tools/call",
            "params": {"name": "notes__was_cancelled", "arguments": {}},
        },
    )
    return reply.json()["result"]["content"][0]["text"] == "waiting"
