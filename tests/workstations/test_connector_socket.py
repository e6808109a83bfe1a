"""The connector socket: who may connect, what they may serve, and what the platform records."""

import os
import sys
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from audit.models import LogEntry
from identities import services as identity_services
from identities.models import ApiToken, Connector
from servers.discovery import refresh_catalog
from teams.models import ConfigChange
from tests.support.database import database_url
from tests.support.processes import free_port, start_process

REPO = Path(__file__).resolve().parents[2]


def _wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_invalid_token_is_closed_with_4401(personal, bob):
    connector = personal.connector(bob, mark="x", token="gth_" + "a" * 46)
    assert connector.close_code == 4401
    assert connector.welcome is None


def test_a_token_of_another_kind_is_closed_with_4403(personal, bob):
    gateway_token = personal.token_for(bob)
    connector = personal.connector(bob, mark="x", token=gateway_token)
    assert connector.close_code == 4403


def test_no_other_socket_path_is_served(personal):
    url = personal.base.replace("http://", "ws://") + "/mcp/acme/ws"
    with pytest.raises(InvalidStatus), connect(url):
        pass


def test_a_revoked_token_closes_the_socket_and_calls_are_told_to_connect(personal, bob):
    connector = personal.connector(bob, mark="bob-laptop")
    assert personal.call(bob).content[0].text.startswith("bob-laptop ")
    token = ApiToken.objects.get(kind=ApiToken.Kind.CONNECTOR, user=bob)

    identity_services.revoke_token(token=token, actor=bob)

    assert connector.wait_closed() == 4410
    assert connector.bye["reason"]
    result = personal.call(bob)
    assert result.is_error
    assert "No connector serves 'files' for you" in result.content[0].text


def test_a_newer_connector_of_the_same_person_replaces_the_older(personal, bob):
    older = personal.connector(bob, mark="bob-laptop")
    newer = personal.connector(bob, mark="bob-desktop")

    assert older.wait_closed() == 4409
    assert older.bye["reason"] == "replaced by a newer connector"
    assert personal.call(bob).content[0].text.startswith("bob-desktop ")
    assert newer.close_code is None


def test_connecting_and_disconnecting_are_recorded(personal, bob):
    connector = personal.connector(bob, mark="bob-laptop")
    row = Connector.objects.get(user=bob)
    assert row.servers == ["files"] and row.host_name == "ws-host"
    assert row.disconnected_at is None and row.channel_name

    connector.stop()

    assert _wait_for(lambda: Connector.objects.get(pk=row.pk).disconnected_at is not None)
    actions = list(
        ConfigChange.objects.filter(action__startswith="connector.")
        .order_by("id")
        .values_list("action", "actor__email")
    )
    assert actions == [
        ("connector.connected", "bob@acme.test"),
        ("connector.disconnected", "bob@acme.test"),
    ]


def test_the_upstream_hops_name_the_connector(personal, bob):
    personal.connector(bob, mark="bob-laptop")
    personal.call(bob)
    row = Connector.objects.get(user=bob)

    assert _wait_for(
        lambda: LogEntry.objects.filter(hop="upstream.response", tool="files__whoami").exists()
    )
    hops = LogEntry.objects.filter(hop__startswith="upstream.", tool="files__whoami")
    assert {h.hop for h in hops} == {"upstream.request", "upstream.response"}
    for hop in hops:
        assert hop.detail["connector"] == {"id": row.pk, "host": "ws-host"}
        assert hop.detail["credential"] == "workstation"


def test_health_is_up_while_a_connector_serves_and_unknown_otherwise(personal, bob):
    server = refresh_catalog(server=personal.server)
    assert (server.health, server.health_detail) == ("unknown", "no connector connected")

    connector = personal.connector(bob, mark="bob-laptop")
    assert refresh_catalog(server=personal.server).health == "up"

    connector.stop()
    assert _wait_for(lambda: refresh_catalog(server=personal.server).health == "unknown")


def test_a_shared_server_is_served_by_one_connector_to_everyone(shared, alice, bob):
    dave = shared.person("dave2@acme.test")
    shared.connector(alice, mark="team-host")

    assert shared.call(bob).content[0].text.startswith("team-host ")
    assert shared.call(dave).content[0].text.startswith("team-host ")


def test_a_member_without_the_capability_cannot_serve_a_shared_server(shared, bob):
    connector = shared.connector(bob, mark="bob-laptop")

    assert connector.welcome["offered"] == []
    assert connector.welcome["serving"] == []
    result = shared.call(bob)
    assert result.is_error
    assert "No connector serves 'files'." in result.content[0].text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_manage_py_serve_serves_the_socket(transactional_db, tmp_path, server):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "GATEHOUSE_VAR_DIR": str(tmp_path)}
    argv = [sys.executable, "manage.py", "serve", "--port", str(port), "--server", server]
    process = start_process(argv, port=port, env=env, cwd=REPO, timeout=60)
    try:
        url = f"ws://127.0.0.1:{port}/connect/ws"
        headers = {"Authorization": "Bearer gth_not-a-token"}
        with connect(url, additional_headers=headers) as socket:
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=20)
            assert socket.close_code == 4401
    finally:
        process.stop()
