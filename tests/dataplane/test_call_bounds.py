"""A call's bounds through the live gateway against a real misbehaving upstream: the maximum
duration progress does not extend (and the upstream told to stop), the result cap of one
assignment, and tool names every client accepts."""

import asyncio
import re
import time

import pytest
from mcp.shared.exceptions import MCPError

from gateways import services as gateway_services
from servers import services as server_services
from tests.support.live_gateway import connect

CLIENT_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.fixture
def bounded(deployment, alice, bounded_upstream):
    upstream = bounded_upstream
    upstream.received.clear()
    upstream.gone.clear()
    upstream.went_away.clear()
    upstream.cancelled.clear()
    for era in ("handshake", "modern"):
        server = server_services.create_server(
            workspace=deployment.acme, name=era, url=f"{upstream.url}/{era}/mcp", actor=alice
        )
        gateway_services.assign_server(
            gateway=deployment.gateway,
            server=server,
            namespace=era,
            timeout_seconds=1,
            max_call_seconds=2,
            actor=alice,
        )
    return deployment


@pytest.mark.parametrize("era", ["handshake", "modern"])
def test_progress_does_not_extend_a_call_past_its_maximum(bounded, bob, bounded_upstream, era):
    upstream = bounded_upstream
    token = bounded.token_for(bob)

    async def scenario():
        async with connect(bounded, token) as client:
            started = time.monotonic()
            with pytest.raises(MCPError) as refused:
                await client.call_tool(f"{era}__flood", {})
            return refused.value, time.monotonic() - started

    refused, elapsed = asyncio.run(scenario())
    # Progress every 0.2 s kept the one-second timeout from firing; the maximum did.
    assert 2 <= elapsed < 4, elapsed
    assert "ran for its maximum of 2 seconds" in str(refused)
    assert refused.data == {"bound": "max_call_seconds", "seconds": 2.0}
    # The upstream was told: its stream was closed, and in a session it was sent the cancel.
    assert upstream.went_away.wait(5)
    flood_ids = [
        m["id"]
        for e, m in upstream.received
        if e == era and m.get("method") == "tools/call" and m["params"]["name"] == "flood"
    ]
    assert [e for e, _ in upstream.gone] == [era]
    if era == "handshake":
        assert upstream.cancelled.wait(5)  # sent beside the answer, not before it
        assert [c["params"]["requestId"] for c in upstream.cancellations()] == flood_ids
        assert "maximum of 2 s" in upstream.cancellations()[0]["params"]["reason"]
    else:
        assert upstream.cancellations() == []


def test_a_name_with_a_dot_is_listed_as_clients_accept_it_and_reaches_its_tool(bounded, bob):
    token = bounded.token_for(bob)

    async def scenario():
        async with connect(bounded, token) as client:
            listed = await client.list_tools()
            names = [tool.name for tool in listed.tools]
            read = next(n for n in names if n.startswith("modern__files_read_text"))
            result = await client.call_tool(read, {"path": "/etc/motd"})
            return names, read, result

    names, read, result = asyncio.run(scenario())
    assert all(CLIENT_NAME.match(name) for name in names), names
    assert re.fullmatch(r"modern__files_read_text_[0-9a-f]{8}", read)
    assert result.content[0].text == "contents of /etc/motd"


def test_an_assignments_result_cap_smaller_than_its_servers_is_enforced(bounded, bob, alice):
    assignment = bounded.gateway.assignments.get(namespace="modern")
    server = assignment.server
    server_services.update_server(server=server, max_reply_bytes=100_000, actor=alice)
    gateway_services.update_assignment(assignment=assignment, max_result_bytes=5000, actor=alice)
    token = bounded.token_for(bob)

    async def scenario():
        async with connect(bounded, token) as client:
            small = await client.call_tool("modern__big", {"size": 4000})
            with pytest.raises(MCPError) as refused:
                await client.call_tool("modern__big", {"size": 6000})
            return small, refused.value

    small, refused = asyncio.run(scenario())
    assert len(small.content[0].text) == 4000
    assert "exceeds 5000 bytes (the assignment's max_result_bytes)" in str(refused)
    assert refused.data == {"maxBytes": 5000}
