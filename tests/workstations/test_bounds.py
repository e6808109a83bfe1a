"""The connector socket under pressure: bounds on connections, hellos, sessions and frames; a
role change while connected; faults of the database and the channel layer."""

import json
import re
import time

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import OperationalError
from mcp import MCPError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from identities import connector_sessions
from identities.models import ApiToken, Connector
from teams.capabilities import SERVERS_DEPLOY_WORKSTATION
from teams.models import Role


def _wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _socket(ws, token):
    url = ws.base.replace("http://", "ws://") + "/connect/ws"
    return connect(url, additional_headers={"Authorization": f"Bearer {token}"})


def _hello(servers):
    return json.dumps({"type": "hello", "version": "0.1.0", "host": "h", "servers": servers})


def _frames_until(socket, kind, timeout=10):
    """Frames received until one of `kind` (included)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        seen.append(frame)
        if frame["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


@pytest.fixture
def deployer(shared):
    Role.objects.create(
        workspace=shared.acme,
        key="deployer",
        name="Deployer",
        capabilities=[SERVERS_DEPLOY_WORKSTATION],
    )
    return shared.person("deployer@acme.test", role_key="deployer")


def test_losing_the_capability_stops_serving_a_shared_server_at_the_next_heartbeat(
    shared, deployer, bob, settings
):
    settings.WORKSTATION_HEARTBEAT_SECONDS = 0.3
    connector = shared.connector(deployer, mark="carols-host")
    assert shared.call(bob).content[0].text.startswith("carols-host ")

    Role.objects.filter(key="deployer").update(capabilities=[])

    assert _wait_for(
        lambda: connector.frames.count(connector.welcome) and (connector.welcome["offered"] == [])
    )
    assert connector.welcome["serving"] == []
    result = shared.call(bob)
    assert result.is_error and "No connector serves 'files'." in result.content[0].text
    assert Connector.objects.get(user=deployer).servers == []


def test_a_token_holds_a_bounded_number_of_connections(personal, bob, settings):
    settings.WORKSTATION_MAX_CONNECTIONS_PER_TOKEN = 2
    token = personal.token_for(bob, ApiToken.Kind.CONNECTOR)
    first = personal.connector(bob, mark="a", servers=(), token=token)
    second = personal.connector(bob, mark="b", servers=(), token=token)

    third = personal.connector(bob, mark="c", servers=(), token=token)

    assert third.wait_closed() == 4429
    assert third.bye["reason"] == "this connector token already has 2 live connections"
    assert first.close_code is None and second.close_code is None
    assert Connector.objects.filter(user=bob).count() == 2


def test_hellos_closer_than_a_second_are_applied_at_the_next_heartbeat(personal, bob, settings):
    settings.WORKSTATION_HEARTBEAT_SECONDS = 0.5
    token = personal.token_for(bob, ApiToken.Kind.CONNECTOR)
    with _socket(personal, token) as socket:
        socket.send(_hello([]))
        assert _frames_until(socket, "welcome")[-1]["serving"] == []
        for _ in range(20):
            socket.send(_hello(["files"]))
        started = time.monotonic()

        welcome = [f for f in _frames_until(socket, "welcome") if f["type"] == "welcome"]

        assert welcome[-1]["serving"] == ["files"]
        assert time.monotonic() - started >= 0.2  # by the heartbeat, not at once
        socket.send(json.dumps({"type": "ping"}))
        frames = _frames_until(socket, "pong")
        assert [f for f in frames if f["type"] == "welcome"] == []  # one welcome, not twenty


def test_a_connector_runs_a_bounded_number_of_sessions(shared, alice, bob, settings):
    settings.WORKSTATION_MAX_SESSIONS_PER_CONNECTOR = 1
    connector = shared.connector(alice, mark="build-host")
    assert shared.call(alice).content[0].text.startswith("build-host ")

    with pytest.raises(MCPError, match="this connector already runs 1 sessions"):
        shared.call(bob)
    assert len(connector.pids()) == 1


def test_a_frame_larger_than_any_reply_closes_the_socket(personal, bob, settings):
    settings.UPSTREAM_MAX_REPLY_BYTES = 4096
    token = personal.token_for(bob, ApiToken.Kind.CONNECTOR)
    with _socket(personal, token) as socket:
        socket.send(_hello(["files"]))
        _frames_until(socket, "welcome")
        socket.send(json.dumps({"type": "ping", "pad": "x" * (4096 + 64 * 1024)}))
        with pytest.raises(ConnectionClosed):
            while True:
                socket.recv(timeout=10)
        assert socket.close_code == 1009


def test_a_failing_heartbeat_check_closes_the_socket_so_the_connector_reconnects(
    personal, bob, settings, monkeypatch
):
    settings.WORKSTATION_HEARTBEAT_SECONDS = 0.3
    connector = personal.connector(bob, mark="bob-laptop")

    def database_down(caller):
        raise OperationalError("the database went away")

    monkeypatch.setattr(connector_sessions, "still_allowed", database_down)

    assert connector.wait_closed(10) == 1011


@pytest.fixture
def full_channels(monkeypatch):
    """Make the channel layer refuse sends to the channels a pattern matches, as a full channel
    does (a reader stuck, or Redis at its capacity)."""
    layer = get_channel_layer()
    send = layer.send
    full = []

    async def refusing(channel, message):
        if any(re.search(pattern, channel) for pattern in full):
            raise ChannelFull(channel)
        await send(channel, message)

    monkeypatch.setattr(layer, "send", refusing)
    return full


def test_a_full_reply_channel_drops_that_session_not_the_connector(
    personal, bob, settings, full_channels
):
    settings.MCP_UPSTREAM_TIMEOUT_SECONDS = 8  # a child takes seconds to start here
    connector = personal.connector(bob, mark="bob-laptop")
    assert personal.call(bob).content[0].text.startswith("bob-laptop ")
    sids = set(connector.children)
    own = re.escape(Connector.objects.get(user=bob).channel_name)
    full_channels.append(f"^(?!{own}$)")  # every channel but the consumer's

    with pytest.raises(MCPError):
        personal.call(bob)

    assert sids & {f["session"] for f in connector.frames if f["type"] == "close"}
    assert connector.close_code is None
    full_channels.clear()
    # The gateway's session learns at its next message that it was dropped, and starts anew.
    for _ in range(3):
        try:
            assert personal.call(bob).content[0].text.startswith("bob-laptop ")
            break
        except MCPError as exc:
            assert "not open here" in str(exc) or "did not answer" in str(exc)
    else:
        raise AssertionError("the connector did not serve again")


def test_a_full_connector_channel_is_a_tool_error(personal, bob, full_channels):
    personal.connector(bob, mark="bob-laptop")
    full_channels.append(re.escape(Connector.objects.get(user=bob).channel_name))

    with pytest.raises(MCPError, match="could not be reached"):
        personal.call(bob)
