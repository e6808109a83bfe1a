"""A reply over its server's bound reaches the client as a JSON-RPC error naming the bound, and
the gateway keeps serving (servers/http_client.py bounds the reply as it arrives)."""

import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from gateways import services as gateway_services
from servers import services as server_services
from tests.support.live_gateway import connect


@pytest.fixture
def bounded(deployment, alice, catalog_handshake_url, catalog_modern_url):
    for name, url in (("old", catalog_handshake_url), ("new", catalog_modern_url)):
        server = server_services.create_server(
            workspace=deployment.acme, name=name, url=url, max_reply_bytes=4000, actor=alice
        )
        gateway_services.assign_server(
            gateway=deployment.gateway, server=server, namespace=name, actor=alice
        )
    return deployment


@pytest.mark.parametrize("namespace", ["old", "new"])
def test_a_reply_over_the_servers_bound_is_an_error_naming_it(bounded, bob, namespace):
    token = bounded.token_for(bob)

    async def scenario():
        async with connect(bounded, token) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool(f"{namespace}__echo", {"text": "x" * 10_000})
            small = await client.call_tool(f"{namespace}__echo", {"text": "still served"})
            return refused.value, small

    refused, small = asyncio.run(scenario())
    assert "exceeds 4000 bytes (the server's max_reply_bytes)" in str(refused)
    assert not small.is_error and "still served" in small.content[0].text
