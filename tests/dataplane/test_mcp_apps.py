"""MCP Apps (`io.modelcontextprotocol/ui`) through the gateway: a live SDK upstream that offers an
app (tests/dataplane/upstream_weather_app.py), the live gateway, and SDK clients of both eras."""

import pytest
from mcp.shared.exceptions import MCPError

from audit.log.writer import flush
from audit.models import LogEntry
from dataplane.policy import RULE_BLOCKED
from gateways import services as gateway_services
from rules import services as rule_services
from servers import services as server_services
from tests.dataplane import upstream_weather_app
from tests.dataplane.upstream_weather_app import MIME_TYPE, VIEW_HTML, VIEW_META
from tests.support.live import ThreadedServer
from tests.support.live_gateway import Deployment, connect, run_client
from tests.upstreams.catalog_server import EraGate

pytestmark = pytest.mark.usefixtures("fresh_cache")

ERAS = ["legacy", "2026-07-28"]
# The gateway's form of the upstream's `ui://weather/view.html`: still a `ui://` URI.
GATEWAY_VIEW = "ui://weather/weather/view.html"


@pytest.fixture(scope="module")
def weather_url():
    server = ThreadedServer(upstream_weather_app.build().streamable_http_app()).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture(scope="module")
def weather_by_era():
    """The weather app restricted to one protocol era: its URL by era."""
    servers = {
        era: ThreadedServer(EraGate(upstream_weather_app.build().streamable_http_app(), era))
        for era in ("handshake", "modern")
    }
    yield {era: f"{server.start().url}/mcp" for era, server in servers.items()}
    for server in servers.values():
        server.stop()


@pytest.fixture
def apps(transactional_db, gateway_base, acme, alice, bob, weather_url, upstream_url):
    """Gateway `acme/dev`: the notes upstream twice (`notes`, `ro`) and the weather app as
    `weather`."""
    deployment = Deployment(gateway_base, acme, alice, bob, upstream_url)
    deployment.weather_server = server_services.create_server(
        workspace=acme, name="weather", url=weather_url, actor=alice
    )
    deployment.weather = gateway_services.assign_server(
        gateway=deployment.gateway,
        server=deployment.weather_server,
        namespace="weather",
        actor=alice,
    )
    yield deployment
    flush(timeout=10)


def session(deployment, mode, *steps):
    """Run `steps` (coroutine functions taking the client) in one client session as bob."""
    token = deployment.token_for(deployment.bob)

    async def scenario():
        async with connect(deployment, token, mode) as client:
            return [await step(client) for step in steps]

    return run_client(scenario())


def entries(workspace, **filters):
    assert flush(timeout=10)
    return list(LogEntry.objects.for_workspace(workspace).filter(**filters).order_by("seq"))


async def list_tools(client):
    return {t.name: t for t in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", ERAS)
def test_a_tool_keeps_its_app_and_the_app_is_read_through_the_gateway(apps, mode):
    async def read_view(client):
        return await client.read_resource(GATEWAY_VIEW)

    async def list_resources(client):
        return {r.uri: r for r in (await client.list_resources()).resources}

    tools, resources, read = session(apps, mode, list_tools, list_resources, read_view)

    assert tools["weather__get_weather"].meta == {"ui": {"resourceUri": GATEWAY_VIEW}}
    assert tools["weather__refresh_forecast"].meta["ui"] == {
        "resourceUri": GATEWAY_VIEW,
        "visibility": ["app"],
    }
    assert tools["weather__forecast_text"].meta == {"ui": {"visibility": ["model"]}}
    # The notes tools offer no app and are listed as before.
    assert tools["notes__echo"].meta is None

    listed = resources[GATEWAY_VIEW]
    assert listed.mime_type == MIME_TYPE and listed.meta == VIEW_META
    (content,) = read.contents
    assert content.uri == GATEWAY_VIEW
    assert content.mime_type == MIME_TYPE
    assert content.text == VIEW_HTML
    # The app's CSP and domain reach the host as the server declared them.
    assert content.meta == VIEW_META


@pytest.mark.parametrize("mode", ERAS)
def test_an_app_calls_its_tools_by_their_upstream_names(apps, mode):
    async def by_upstream_name(client):
        return await client.call_tool("refresh_forecast", {"city": "Oslo"})

    async def by_gateway_name(client):
        return await client.call_tool("weather__refresh_forecast", {"city": "Bergen"})

    bare, namespaced = session(apps, mode, by_upstream_name, by_gateway_name)
    assert bare.content[0].text == "Oslo: forecast refreshed"
    assert namespaced.content[0].text == "Bergen: forecast refreshed"

    calls = entries(apps.acme, upstream_tool="refresh_forecast", hop="upstream.request")
    assert [e.tool for e in calls] == ["weather__refresh_forecast"] * 2
    first = entries(apps.acme, correlation_id=calls[0].correlation_id)
    assert [e.hop for e in first] == [
        "client.request",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    # Every entry names the tool as the gateway knows it; the request keeps what the host sent.
    assert {e.tool for e in first} == {"weather__refresh_forecast"}
    assert first[0].payload["name"] == "refresh_forecast"
    assert first[1].payload["name"] == "refresh_forecast"
    assert first[3].outcome == "ok"


def test_a_model_only_tool_is_not_an_apps(apps):
    async def model_only(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("forecast_text", {"city": "Oslo"})
        return refused.value.error

    async def not_an_apps_server(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "hi"})
        return refused.value.error

    model, notes = session(apps, "legacy", model_only, not_an_apps_server)
    assert model.message == "Unknown tool: forecast_text"
    # The notes server offers no app: its names are not resolved for apps.
    assert notes.message == "Unknown tool: echo"


def test_curation_keeps_an_app_only_tool_out(apps):
    gateway_services.update_assignment(
        assignment=apps.weather,
        tool_mode="selected",
        tool_allow=["get_weather", "refresh_forecast"],
        actor=apps.alice,
    )

    def refused(name):
        async def step(client):
            with pytest.raises(MCPError) as error:
                await client.call_tool(name, {"station": "oslo-1"})
            return error.value.error

        return step

    async def listed(client):
        return sorted(n for n in await list_tools(client) if n.startswith("weather__"))

    async def allowed(client):
        return await client.call_tool("refresh_forecast", {"city": "Oslo"})

    names, bare, namespaced, fine = session(
        apps,
        "2026-07-28",
        listed,
        refused("reset_station"),
        refused("weather__reset_station"),
        allowed,
    )
    assert names == ["weather__get_weather", "weather__refresh_forecast"]
    assert bare.message == "Unknown tool: reset_station"
    assert namespaced.message == "Unknown tool: weather__reset_station"
    assert fine.content[0].text == "Oslo: forecast refreshed"
    filtered = entries(apps.acme, hop="policy.tool_filtered")
    assert [e.tool for e in filtered] == ["reset_station", "weather__reset_station"]
    assert all(e.outcome == "blocked" for e in filtered)


def test_a_name_two_servers_offer_is_refused_with_the_gateways_names(apps):
    gateway_services.assign_server(
        gateway=apps.gateway, server=apps.weather_server, namespace="sky", actor=apps.alice
    )

    async def ambiguous(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("refresh_forecast", {"city": "Oslo"})
        return refused.value.error

    async def namespaced(client):
        return await client.call_tool("sky__refresh_forecast", {"city": "Oslo"})

    error, fine = session(apps, "legacy", ambiguous, namespaced)
    assert "sky__refresh_forecast" in error.message
    assert "weather__refresh_forecast" in error.message
    assert error.data == {"candidates": ["sky__refresh_forecast", "weather__refresh_forecast"]}
    assert fine.content[0].text == "Oslo: forecast refreshed"
    (upstream,) = entries(apps.acme, hop="upstream.request", upstream_tool="refresh_forecast")
    assert upstream.tool == "sky__refresh_forecast"


def test_a_rule_applies_to_an_apps_call(apps):
    rule_services.create_rule(
        workspace=apps.acme,
        actor=apps.alice,
        name="no-resets",
        detector="tool",
        detector_config={"match": "weather__reset_*"},
        action="block",
        direction="request",
    )

    async def reset(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("reset_station", {"station": "oslo-1"})
        return refused.value.error

    (error,) = session(apps, "2026-07-28", reset)
    assert error.code == RULE_BLOCKED and "no-resets" in error.message
    (action,) = entries(apps.acme, hop="policy.action")
    assert action.tool == "weather__reset_station" and action.outcome == "blocked"
    assert not entries(apps.acme, hop="upstream.request")


def test_without_resources_a_tool_names_no_app(apps):
    gateway_services.update_assignment(
        assignment=apps.weather, resources_enabled=False, actor=apps.alice
    )

    async def read_view(client):
        with pytest.raises(MCPError) as refused:
            await client.read_resource(GATEWAY_VIEW)
        return refused.value.error

    tools, error = session(apps, "legacy", list_tools, read_view)
    # The host could not read the app: it shows the text result instead.
    assert tools["weather__get_weather"].meta == {"ui": {}}
    assert tools["weather__refresh_forecast"].meta == {"ui": {"visibility": ["app"]}}
    assert "Resource not found" in error.message


@pytest.mark.parametrize("upstream_era", ["handshake", "modern"])
def test_an_upstream_of_either_era_offers_its_app_through_the_gateway(
    apps, weather_by_era, upstream_era
):
    server = server_services.create_server(
        workspace=apps.acme, name="wx", url=weather_by_era[upstream_era], actor=apps.alice
    )
    gateway_services.assign_server(
        gateway=apps.gateway, server=server, namespace="wx", actor=apps.alice
    )

    async def read_view(client):
        return await client.read_resource("ui://wx/weather/view.html")

    async def declared(client):
        return await client.call_tool("wx__declared_extensions", {})

    tools, read, result = session(apps, "legacy", list_tools, read_view, declared)
    assert tools["wx__get_weather"].meta == {"ui": {"resourceUri": "ui://wx/weather/view.html"}}
    assert read.contents[0].text == VIEW_HTML and read.contents[0].meta == VIEW_META
    # A server that offers its apps only to hosts that render them offers them to the gateway.
    assert result.content[0].text == "io.modelcontextprotocol/ui"


def test_an_unprefixed_servers_own_ui_uri_is_read_from_it_not_from_a_namespace_of_that_name(
    apps,
):
    # The weather app once more, unprefixed: its own `ui://weather/view.html` begins with the
    # namespace of the prefixed assignment, whose server has no `ui://view.html`.
    gateway_services.assign_server(
        gateway=apps.gateway,
        server=apps.weather_server,
        namespace="",
        prefix_mode="never",
        actor=apps.alice,
    )

    async def read_own(client):
        return await client.read_resource("ui://weather/view.html")

    async def read_prefixed(client):
        return await client.read_resource(GATEWAY_VIEW)

    own, prefixed = session(apps, "legacy", read_own, read_prefixed)
    assert own.contents[0].text == VIEW_HTML
    assert own.contents[0].uri == "ui://weather/view.html"
    assert prefixed.contents[0].uri == GATEWAY_VIEW
