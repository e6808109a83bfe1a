"""One gateway, upstreams of every transport era, clients of both eras."""

import asyncio

import pytest

from gateways import services as gateway_services
from servers import services as server_services
from servers.models import Server
from tests.dataplane import upstream_app
from tests.support.live import ThreadedServer
from tests.support.live_gateway import connect


@pytest.fixture(scope="module")
def legacy_sse_url():
    server = ThreadedServer(upstream_app.build("legacy").sse_app()).start()
    yield f"{server.url}/sse"
    server.stop()


@pytest.fixture
def mixed(deployment, alice, catalog_handshake_url, catalog_modern_url, legacy_sse_url):
    for name, url, transport in (
        ("old", catalog_handshake_url, "streamable_http"),
        ("new", catalog_modern_url, "streamable_http"),
        ("sse", legacy_sse_url, "sse"),
    ):
        server = server_services.create_server(
            workspace=deployment.acme, name=name, url=url, transport=transport, actor=alice
        )
        gateway_services.assign_server(
            gateway=deployment.gateway, server=server, namespace=name, actor=alice
        )
    return deployment


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_clients_of_both_eras_reach_upstreams_of_every_era(mixed, bob, mode):
    token = mixed.token_for(bob)

    async def scenario():
        async with connect(mixed, token, mode) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            calls = {
                ns: await client.call_tool(f"{ns}__echo", {"text": f"via {ns}"})
                for ns in ("old", "new", "sse")
            }
            return names, calls

    names, calls = asyncio.run(scenario())
    assert {"old__echo", "new__echo", "sse__echo", "notes__echo"} <= names
    for ns, result in calls.items():
        assert not result.is_error, result
        assert f"via {ns}" in result.content[0].text


def test_discovery_records_each_upstreams_era(mixed):
    from servers.discovery import refresh_catalog

    eras = {}
    for server in Server.objects.for_workspace(mixed.acme).filter(name__in=["old", "new", "sse"]):
        eras[server.name] = refresh_catalog(server=server).catalog["era"]
    assert eras == {"old": "handshake", "new": "modern", "sse": "legacy-sse"}
