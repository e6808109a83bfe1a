"""The server endpoints."""

import asyncio

from asgiref.sync import async_to_sync
from django.core.cache import cache

from core import config_events
from gateways import services as gateway_services
from servers.models import Server
from tests.support.api import error, refused_capability
from tests.support.channel_listener import listening_layer

W = "/api/v1/workspaces/acme"


def test_remote_servers_can_be_created_listed_updated_and_deleted(api, acme, alice):
    client = api.as_(alice)
    body = {"name": "wiki", "url": "https://wiki.test/mcp", "description": "Docs"}
    response = client.post(f"{W}/servers/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["transport"] == "streamable_http"
    assert [s["name"] for s in client.get(f"{W}/servers/").json()["results"]] == ["wiki"]

    response = client.patch(
        f"{W}/servers/wiki/", {"url": "https://wiki.test/sse", "transport": "sse"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["url"], response.json()["transport"]) == (
        "https://wiki.test/sse",
        "sse",
    )
    assert client.delete(f"{W}/servers/wiki/").status_code == 204
    assert not Server.objects.for_workspace(acme).exists()


def test_a_bad_url_is_refused(api, acme, alice):
    response = api.as_(alice).post(
        f"{W}/servers/", {"name": "wiki", "url": "ftp://wiki.test"}, format="json"
    )
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "'ftp://wiki.test' is not an http(s) URL.",
        "attr": "url",
    }


def test_bad_names_kinds_and_duplicates_are_refused(api, acme, alice, acme_server):
    client = api.as_(alice)
    response = client.post(
        f"{W}/servers/", {"name": "Bad Name", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 400
    assert error(response)["attr"] == "name"
    response = client.post(
        f"{W}/servers/", {"name": "x", "kind": "quantum", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 400
    assert error(response)["attr"] == "kind"
    response = client.post(
        f"{W}/servers/", {"name": "time", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 409
    response = client.post(f"{W}/servers/", {"name": "fs", "kind": "managed"}, format="json")
    assert response.status_code == 400
    assert error(response)["detail"] == "A managed server needs a command."


def test_managed_servers_show_env_names_but_never_values(api, acme, alice):
    body = {"name": "fs", "kind": "managed", "command": "mcp-fs", "env": {"API_KEY": "s3cret"}}
    response = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert response.status_code == 201
    assert response.json()["env_names"] == ["API_KEY"]
    assert b"s3cret" not in api.get(f"{W}/servers/fs/").content


def test_changing_a_servers_kind_needs_the_new_kinds_capability(api_as_dave_with, acme, alice):
    from teams.capabilities import SERVERS_DEPLOY_MANAGED, SERVERS_MANAGE, SERVERS_VIEW_ALL

    Server.objects.create(workspace=acme, name="wiki", url="https://wiki.test/mcp")
    client = api_as_dave_with({SERVERS_MANAGE, SERVERS_VIEW_ALL})
    body = {"kind": "managed", "url": "", "command": "mcp-wiki"}
    response = client.patch(f"{W}/servers/wiki/", body, format="json")
    assert response.status_code == 403
    assert refused_capability(response) == SERVERS_DEPLOY_MANAGED
    client = api_as_dave_with({SERVERS_MANAGE, SERVERS_DEPLOY_MANAGED, SERVERS_VIEW_ALL})
    response = client.patch(f"{W}/servers/wiki/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "managed"


async def _heard(layer, channel) -> list[str]:
    """The methods sent to `channel` so far, waiting briefly for each."""
    methods = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.2)
        except TimeoutError:
            return methods
        methods.append(message["message"]["method"])


def test_a_server_change_tells_the_gateways_serving_it(
    api, acme, alice, acme_server, acme_gateway, django_capture_on_commit_callbacks
):
    other = gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)
    layer = listening_layer()
    serving, idle = async_to_sync(layer.new_channel)(), async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(config_events.group_name(acme_gateway.pk), serving)
    async_to_sync(layer.group_add)(config_events.group_name(other.pk), idle)
    epoch = cache.get(config_events.epoch_key(acme.pk))
    version = acme_gateway.config_version

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_(alice).patch(
            f"{W}/servers/time/", {"description": "The clock"}, format="json"
        )

    assert response.status_code == 200
    assert cache.get(config_events.epoch_key(acme.pk)) not in (None, epoch)
    assert async_to_sync(_heard)(layer, serving) == list(config_events.LIST_CHANGED)
    assert async_to_sync(_heard)(layer, idle) == []
    # The gateway's own counter belongs to the gateways app; the epoch recompiles its snapshot.
    acme_gateway.refresh_from_db()
    assert acme_gateway.config_version == version
