"""One upstream's faults stay its own: a hung upstream never holds up the others, an optional
list it cannot give leaves only that list empty, a failing one is refused fast by its breaker,
and idle upstream sessions are closed."""

import asyncio
import json
import time

import httpx
import pytest

from gateways import services as gateway_services
from servers import services as server_services
from tests.upstreams.misbehaving import MisbehavingUpstream


@pytest.fixture
def misbehaving():
    started = []

    def start(**behaviour) -> MisbehavingUpstream:
        upstream = MisbehavingUpstream(**behaviour).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


def assign(deployment, alice, name: str, url: str, **fields):
    server = server_services.create_server(
        workspace=deployment.acme, name=name, url=url, actor=alice, **fields
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace=name, actor=alice
    )


class Client:
    """A client of the deployment's gateway over plain HTTP, with its notification stream."""

    def __init__(self, deployment, token):
        self.deployment = deployment
        self.session_id = deployment.initialize(token)
        self.headers = deployment.headers(token, **{"Mcp-Session-Id": self.session_id})
        self.headers["Accept"] = "application/json, text/event-stream"
        self.http = httpx.AsyncClient(timeout=30)
        self.heard: asyncio.Queue[str] = asyncio.Queue()
        self._ids = iter(range(2, 10_000))
        self._listener: asyncio.Task | None = None

    async def __aenter__(self):
        opened = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(opened))
        await opened.wait()
        return self

    async def __aexit__(self, *exc):
        self._listener.cancel()
        await self.http.aclose()

    async def _listen(self, opened: asyncio.Event):
        headers = dict(self.headers, Accept="text/event-stream")
        async with self.http.stream("GET", self.deployment.url, headers=headers) as stream:
            opened.set()
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    await self.heard.put(json.loads(line[5:]).get("method", ""))

    async def rpc(self, method: str, params: dict | None = None) -> tuple[dict, float]:
        """The JSON-RPC answer, and how long it took in seconds."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        started = time.perf_counter()
        response = await self.http.post(self.deployment.url, headers=self.headers, json=body)
        took = time.perf_counter() - started
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            data = [ln[5:] for ln in response.text.splitlines() if ln.startswith("data:")]
            return json.loads(data[-1]), took
        return response.json(), took

    async def tool_names(self) -> tuple[set[str], float]:
        answer, took = await self.rpc("tools/list")
        return {t["name"] for t in answer["result"]["tools"]}, took

    async def wait_to_hear(self, method: str, *, poke, timeout: float = 15) -> None:
        """Until `method` arrives on the stream; `poke` (a request) runs between waits, since a
        late fetch is started by the requests that find the lists expired."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await poke()
            try:
                while await asyncio.wait_for(self.heard.get(), 0.3) != method:
                    pass
                return
            except TimeoutError:
                continue
        raise AssertionError(f"never heard {method}")


def test_a_hung_upstream_never_holds_up_the_others(deployment, alice, bob, misbehaving, settings):
    settings.UPSTREAM_LIST_DEADLINE_SECONDS = 1.0
    settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS = 1.5
    settings.UPSTREAM_RETRY_DOWN_SECONDS = 0.2
    hung = misbehaving(hung=True)
    assign(deployment, alice, "slow", hung.url)
    token = deployment.token_for(bob)

    async def scenario():
        async with Client(deployment, token) as client:
            first, first_took = await client.tool_names()
            called, call_took = await client.rpc(
                "tools/call", {"name": "notes__echo", "arguments": {"text": "hi"}}
            )
            later, later_took = await client.tool_names()
            hung.release()
            await client.wait_to_hear("notifications/tools/list_changed", poke=client.tool_names)
            after, _ = await client.tool_names()
            return first, first_took, called, call_took, later, later_took, after

    first, first_took, called, call_took, later, later_took, after = asyncio.run(scenario())
    assert "notes__echo" in first and "slow__ping" not in first
    assert first_took < 1.0 + 0.5
    assert called["result"]["content"][0]["text"] == "hi"
    assert call_took < 0.1
    assert "notes__echo" in later and later_took < 0.5
    assert "slow__ping" in after and "notes__echo" in after


def test_a_servers_own_deadline_and_handshake_timeout_apply(
    deployment, alice, bob, misbehaving, settings
):
    settings.UPSTREAM_LIST_DEADLINE_SECONDS = 10
    settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS = 10
    hung = misbehaving(hung=True)
    assign(
        deployment,
        alice,
        "slow",
        hung.url,
        list_deadline_seconds=0.3,
        handshake_timeout_seconds=0.6,
    )
    token = deployment.token_for(bob)

    async def scenario():
        async with Client(deployment, token) as client:
            names, took = await client.tool_names()
            # Past the server's handshake timeout the fetch gives up and marks it down.
            give_up = time.monotonic() + 5
            while time.monotonic() < give_up:
                refused, _ = await client.rpc("tools/call", {"name": "slow__ping", "arguments": {}})
                if "unavailable" in refused["error"]["message"]:
                    break
                await asyncio.sleep(0.1)
            return names, took, refused, time.monotonic() - (give_up - 5)

    names, took, refused, down_after = asyncio.run(scenario())
    assert "notes__echo" in names and took < 0.3 + 0.5
    assert refused["error"]["code"] == -32001
    assert down_after < 3


def test_a_down_upstream_is_retried_off_the_request_path(
    deployment, alice, bob, misbehaving, settings
):
    settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS = 0.3
    settings.UPSTREAM_RETRY_DOWN_SECONDS = 0.2
    hung = misbehaving(hung=True)
    assign(deployment, alice, "slow", hung.url)
    token = deployment.token_for(bob)
    lists = []

    async def listed():
        names, took = await client_of["it"].tool_names()
        lists.append((names, took))

    client_of = {}

    async def scenario():
        async with Client(deployment, token) as client:
            client_of["it"] = client
            await listed()
            refused, _ = await client.rpc("tools/call", {"name": "slow__ping", "arguments": {}})
            # Each retry of the down upstream hangs for the handshake timeout, in the background,
            # while the lists are answered at once.
            give_up = time.monotonic() + 20
            while hung.arrived.count("initialize") < 3 and time.monotonic() < give_up:
                await listed()
                await asyncio.sleep(0.1)  # requests spaced out, as clients make them
            hung.release()
            await client.wait_to_hear("notifications/tools/list_changed", poke=listed)
            after, _ = await client.tool_names()
            return refused, after

    refused, after = asyncio.run(scenario())
    assert refused["error"]["code"] == -32001
    assert "'slow' is unavailable" in refused["error"]["message"]
    assert "notes__echo" in lists[0][0] and "slow__ping" not in lists[0][0]
    assert lists[0][1] < 1.0  # the handshake timeout, and a margin
    assert max(took for _, took in lists[1:]) < 0.25
    assert "slow__ping" in after


def test_an_optional_list_refused_leaves_only_that_list_empty(deployment, alice, bob, misbehaving):
    refusing = misbehaving(templates_refused=True)
    assign(deployment, alice, "memo", refusing.url)
    token = deployment.token_for(bob)

    async def scenario():
        async with Client(deployment, token) as client:
            tools, _ = await client.tool_names()
            called, _ = await client.rpc("tools/call", {"name": "memo__ping", "arguments": {}})
            resources, _ = await client.rpc("resources/list")
            templates, _ = await client.rpc("resources/templates/list")
            return tools, called, resources, templates

    tools, called, resources, templates = asyncio.run(scenario())
    assert "memo__ping" in tools
    assert called["result"]["content"][0]["text"] == "pong"
    uris = [r["uri"] for r in resources["result"]["resources"]]
    assert any(uri.endswith("memo://one") for uri in uris)
    assert not [t for t in templates["result"]["resourceTemplates"] if "memo" in t["uriTemplate"]]


def test_discovery_keeps_a_server_up_whose_optional_list_fails(acme, alice, misbehaving):
    from servers.discovery import refresh_catalog

    refusing = misbehaving(templates_refused=True)
    server = server_services.create_server(
        workspace=acme, name="memo", url=refusing.url, actor=alice
    )
    server = refresh_catalog(server=server)
    assert server.health == "up"
    assert [t["name"] for t in server.catalog["tools"]] == ["ping"]
    assert server.catalog["resource_templates"] == []
    assert "resources/templates/list failed" in server.health_detail


def test_a_failing_upstream_is_refused_fast_until_a_probe_succeeds(
    deployment, alice, bob, misbehaving, settings
):
    settings.UPSTREAM_BREAKER_FAILURES = 3
    settings.UPSTREAM_BREAKER_OPEN_SECONDS = 1.0
    flaky = misbehaving(failing_calls=3)
    assign(deployment, alice, "flaky", flaky.url)
    token = deployment.token_for(bob)
    ping = {"name": "flaky__ping", "arguments": {}}

    async def scenario():
        async with Client(deployment, token) as client:
            failures = [(await client.rpc("tools/call", ping))[0] for _ in range(3)]
            refused, refused_took = await client.rpc("tools/call", ping)
            reached_while_open = flaky.count("tools/call")
            # The breaker's interval is the event waited for: nothing else marks it.
            await asyncio.sleep(settings.UPSTREAM_BREAKER_OPEN_SECONDS)
            probe, _ = await client.rpc("tools/call", ping)
            closed, _ = await client.rpc("tools/call", ping)
            return failures, refused, refused_took, reached_while_open, probe, closed

    failures, refused, refused_took, reached_while_open, probe, closed = asyncio.run(scenario())
    assert all(f["error"]["code"] == -32001 for f in failures)
    assert refused["error"]["code"] == -32001
    assert refused["error"]["message"] == (
        "The server 'flaky' is unavailable after 3 failures in a row; it will be retried in 1 s."
    )
    assert refused_took < 0.05
    assert reached_while_open == 3
    assert probe["result"]["content"][0]["text"] == "pong"
    assert closed["result"]["content"][0]["text"] == "pong"
    assert flaky.count("tools/call") == 5


def test_an_idle_upstream_session_is_closed(deployment, alice, bob, misbehaving, settings):
    settings.UPSTREAM_SESSION_IDLE_SECONDS = 0.5
    idle = misbehaving()
    assign(deployment, alice, "idle", idle.url)
    token = deployment.token_for(bob)

    async def scenario():
        async with Client(deployment, token) as client:
            await client.rpc("tools/call", {"name": "idle__ping", "arguments": {}})
            # Idle time is the condition itself: it passes, then any request sweeps the pool.
            await asyncio.sleep(settings.UPSTREAM_SESSION_IDLE_SECONDS + 0.1)
            await client.rpc("tools/call", {"name": "notes__echo", "arguments": {"text": "x"}})
            closed = await asyncio.to_thread(idle.deleted.wait, 10)
            again, _ = await client.rpc("tools/call", {"name": "idle__ping", "arguments": {}})
            return closed, again

    closed, again = asyncio.run(scenario())
    assert closed
    assert again["result"]["content"][0]["text"] == "pong"
    assert idle.count("initialize") == 2


def test_calls_beyond_a_servers_slots_are_refused_after_a_bounded_wait(
    deployment, alice, bob, misbehaving, settings
):
    settings.UPSTREAM_MAX_CONCURRENT_CALLS = 1
    settings.UPSTREAM_CALL_SLOT_WAIT_SECONDS = 0.2
    busy = misbehaving()
    assign(deployment, alice, "busy", busy.url)
    token = deployment.token_for(bob)
    ping = {"name": "busy__ping", "arguments": {}}

    async def scenario():
        async with Client(deployment, token) as client:
            await client.tool_names()
            busy.hang()
            holding = asyncio.create_task(client.rpc("tools/call", ping))
            # Polled: the upstream's own thread records the arrival.
            while "tools/call" not in busy.arrived:
                await asyncio.sleep(0.01)
            refused, took = await client.rpc("tools/call", ping)
            other, _ = await client.rpc(
                "tools/call", {"name": "notes__echo", "arguments": {"text": "x"}}
            )
            busy.release()
            held, _ = await holding
            return refused, took, other, held

    refused, took, other, held = asyncio.run(scenario())
    assert refused["error"]["code"] == -32001
    assert refused["error"]["message"] == (
        "The server 'busy' is busy: no call slot came free within 0.2 seconds "
        "(UPSTREAM_MAX_CONCURRENT_CALLS is 1)."
    )
    assert 0.2 <= took < 1.0
    assert other["result"]["content"][0]["text"] == "x"  # other servers keep their slots
    assert held["result"]["content"][0]["text"] == "pong"
