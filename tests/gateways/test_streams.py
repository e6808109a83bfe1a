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
