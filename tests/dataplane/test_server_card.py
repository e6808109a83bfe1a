"""A gateway's Server Card at `<gateway URL>/server-card`, over a real socket: valid against the
published schema, no more revealing to an anonymous caller than the gateway URL itself, and a way
in that works: catalog, card, then an MCP session at the URL the card names."""

import httpx
import pytest

from gateways import services as gateway_services
from identities.services import issue_token
from teams.models import Membership
from tests.support.live_gateway import connect, run_client
from tests.support.mcp_schemas import is_absolute_url, server_card_errors

CARD_TYPE = "application/mcp-server-card+json"


@pytest.fixture
def described(deployment):
    gateway_services.update_gateway(
        gateway=deployment.gateway,
        description="Notes for the engineering team",
        actor=deployment.alice,
    )
    return deployment


def _card(deployment, token=None, path="/mcp/acme/dev/server-card", **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{deployment.base}{path}", headers={"Accept": CARD_TYPE, **headers})


def test_an_anonymous_caller_gets_the_card_without_the_description(described):
    response = _card(described, Origin="https://elsewhere.example")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CARD_TYPE
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, max-age=3600"
    card = response.json()
    assert server_card_errors(card) == []
    host = described.base.split("//")[1].split(":")[0]
    assert card["name"] == f"{'.'.join(reversed(host.split('.')))}.acme/dev"
    assert card["title"] == "Developer tools"
    # What the 401 and the resource metadata already say, and nothing the gateway's admins wrote.
    assert card["description"] == "MCP gateway Developer tools"
    assert set(card) == {"$schema", "name", "version", "title", "description", "remotes", "_meta"}
    streamable, legacy = card["remotes"]
    assert (streamable["type"], streamable["url"]) == ("streamable-http", described.url)
    assert "2025-11-25" in streamable["supportedProtocolVersions"]
    assert "2026-07-28" in streamable["supportedProtocolVersions"]
    assert (legacy["type"], legacy["url"]) == ("sse", f"{described.url}/sse")
    assert legacy["supportedProtocolVersions"] == ["2024-11-05"]
    assert all(is_absolute_url(remote["url"]) for remote in card["remotes"])
    authorization = card["_meta"]["gatehouse/authorization"]
    metadata = httpx.get(authorization["protectedResourceMetadata"])
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == described.url


def test_a_caller_provisioned_to_the_gateway_gets_its_description(described):
    response = _card(described, described.token_for(described.bob))
    assert response.status_code == 200
    assert response.json()["description"] == "Notes for the engineering team"
    assert response.headers["cache-control"] == "private, no-store"
    assert server_card_errors(response.json()) == []


def test_a_token_that_does_not_open_the_gateway_is_read_as_none(described, carol, mallory, globex):
    anonymous = _card(described).json()
    # carol is in acme but not provisioned to dev; mallory's token is globex's.
    carols = Membership.objects.get(workspace=described.acme, user=carol)
    carol_token = issue_token(membership=carols, name="t", actor=carol).secret
    mallorys = Membership.objects.get(workspace=globex, user=mallory)
    mallory_token = issue_token(membership=mallorys, name="t", actor=mallory).secret
    for token in (carol_token, mallory_token, "gth_not-a-token"):
        response = _card(described, token)
        assert response.status_code == 200
        assert response.json() == anonymous


def test_a_gateway_that_does_not_exist_is_a_404_as_at_its_url(deployment):
    for path in ("/mcp/acme/nope", "/mcp/nosuch/dev"):
        card = _card(deployment, path=f"{path}/server-card")
        gateway = httpx.get(f"{deployment.base}{path}")
        assert card.status_code == gateway.status_code == 404
        assert "error" in card.json()


def test_the_card_is_read_only(deployment):
    url = f"{deployment.url}/server-card"
    response = httpx.post(url, json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    preflight = httpx.options(url)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"


def test_the_card_follows_the_gateways_configuration(deployment):
    before = _card(deployment).json()["title"]
    gateway_services.update_gateway(
        gateway=deployment.gateway, name="Notes", actor=deployment.alice
    )
    assert (before, _card(deployment).json()["title"]) == ("Developer tools", "Notes")


def test_a_client_finds_the_gateway_through_the_catalog_and_card(deployment):
    token = deployment.token_for(deployment.bob)
    catalog = httpx.get(
        f"{deployment.base}/.well-known/mcp/catalog.json",
        headers={"Authorization": f"Bearer {token}"},
    )
    [entry] = catalog.json()["entries"]
    assert entry["type"] == CARD_TYPE
    card = httpx.get(entry["url"], headers={"Accept": CARD_TYPE}).json()
    assert card["remotes"][0]["url"] == deployment.url

    async def tools():
        async with connect(deployment, token) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    assert "notes__echo" in run_client(tools())
