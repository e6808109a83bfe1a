"""Traffic beyond request/reply: relayed requests, the notification stream, legacy HTTP+SSE."""

import asyncio
import json

import httpx
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from gateways import services as gateway_services
from servers import services as server_services


def test_an_upstream_elicitation_is_relayed_to_the_client(deployment, bob):
    token = deployment.token_for(bob)
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"ok": True})

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(deployment.url, http_client=http)
        async with Client(
            transport, mode="legacy", cache=None, elicitation_callback=on_elicit
        ) as client:
            return await client.call_tool("notes__confirm", {"question": "Ship it?"})

    result = asyncio.run(scenario())
    assert asked == ["Ship it?"]
    assert result.content[0].text == "confirmed: True"


def test_the_legacy_sse_transport_lists_and_calls(deployment, bob):
    token = deployment.token_for(bob)

    async def scenario():
        transport = sse_client(
            f"{deployment.url}/sse", headers={"Authorization": f"Bearer {token}"}
        )
        async with Client(transport, mode="legacy", cache=None) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            echoed = await client.call_tool("notes__echo", {"text": "over sse"})
            return names, echoed

    names, echoed = asyncio.run(scenario())
    assert "notes__echo" in names
    assert echoed.content[0].text == "over sse"


def test_connected_clients_hear_that_the_tool_list_changed(deployment, alice, bob):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    headers["Accept"] = "text/event-stream"
    received = []
    with httpx.stream("GET", deployment.url, headers=headers, timeout=10) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines).startswith(":")  # the stream opens with a heartbeat comment
        gateway_services.update_assignment(
            assignment=deployment.full, tool_mode="none", actor=alice
        )
        for line in lines:
            if line.startswith("data:"):
                received.append(json.loads(line[5:])["method"])
            if "notifications/tools/list_changed" in received:
                break
    assert "notifications/tools/list_changed" in received


def test_a_cancelled_call_is_cancelled_upstream(deployment, bob):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    headers["Accept"] = "application/json"

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as http:
            call = asyncio.ensure_future(
                http.post(
                    deployment.url,
                    headers=headers,
                    json={
                        "jsonrpc": "2.0",
                        "id": 7,
                        "method": "tools/call",
                        "params": {"name": "notes__wait", "arguments": {"seconds": 20}},
                    },
                )
            )
            await asyncio.sleep(1)
            cancel = await http.post(
                deployment.url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 7, "reason": "changed my mind"},
                },
            )
            answer = await call
            await asyncio.sleep(0.3)
            check = await http.post(
                deployment.url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "id": 8,
                    "method": "tools/call",
                    "params": {"name": "notes__was_cancelled", "arguments": {}},
                },
            )
            return cancel, answer, check

    cancel, answer, check = asyncio.run(scenario())
    assert cancel.status_code == 202
    assert answer.json()["error"]["code"] == -32800
    assert check.json()["result"]["content"][0]["text"] == "yes"


def test_a_tool_can_have_its_own_timeout(deployment, alice, bob):
    gateway_services.update_assignment(
        assignment=deployment.full, tool_overrides={"wait": {"timeout": 0.5}}, actor=alice
    )
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    reply = httpx.post(
        deployment.url,
        headers=headers,
        timeout=30,
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "notes__wait", "arguments": {"seconds": 5}},
        },
    )
    error = reply.json()["error"]
    assert error["code"] == -32002
    assert "'notes' did not answer within 0.5 seconds" in error["message"]


def test_input_required_from_a_modern_upstream_becomes_a_request_to_the_client(
    deployment, alice, bob, upstream_servers
):
    url = upstream_servers.start("conformance_server.py", "--era", "modern")
    server = server_services.create_server(
        workspace=deployment.acme, name="modern", url=url, actor=alice
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace="modern", actor=alice
    )
    token = deployment.token_for(bob)
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"username": "ada", "email": "a@b.c"})

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(deployment.url, http_client=http)
        async with Client(
            transport, mode="legacy", cache=None, elicitation_callback=on_elicit
        ) as client:
            return await client.call_tool("modern__test_elicitation", {"message": "Who?"})

    result = asyncio.run(scenario())
    assert asked == ["Who?"]
    assert "action=accept" in result.content[0].text and "ada" in result.content[0].text
