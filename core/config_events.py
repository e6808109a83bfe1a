"""Telling data-plane workers that configuration changed.

A worker compiles each gateway into a snapshot and keeps it while two tokens in the shared cache
stay the same: the gateway's own (`version_key`) and its workspace's epoch (`epoch_key`).
Replacing either after the transaction commits makes every worker recompile on its next request;
clients with a stream open on a gateway are also sent `notifications/*/list_changed` through the
channel layer, so they list its tools again. Nothing here knows a model, so every app can tell,
including the ones below `gateways`.
"""

import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

LIST_CHANGED = (
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
)


def version_key(workspace_id: int, slug: str) -> str:
    return f"gw:v:{workspace_id}:{slug}"


def epoch_key(workspace_id: int) -> str:
    return f"ws:epoch:{workspace_id}"


def group_name(gateway_id: int) -> str:
    return f"mcp.gateway.{gateway_id}"


async def send_to_streams(gateway_id: int, message: dict) -> None:
    """Send `message` to every client stream open on the gateway (the data plane awaits this)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_name(gateway_id), {"type": "mcp.notify", "message": message})


def announce(gateway_id: int, methods=LIST_CHANGED) -> None:
    """Send list_changed notifications to every client stream open on the gateway."""
    for method in methods:
        async_to_sync(send_to_streams)(gateway_id, {"jsonrpc": "2.0", "method": method})


def gateway_changed(*, workspace_id: int, slug: str, gateway_id: int) -> None:
    """One gateway's snapshot is recompiled, and its clients told, once the change commits."""

    def publish():
        cache.set(version_key(workspace_id, slug), secrets.token_hex(8), None)
        announce(gateway_id)

    transaction.on_commit(publish)


def workspace_changed(*, workspace_id: int, gateway_ids=()) -> None:
    """Every snapshot of the workspace is recompiled once the change commits (memberships, roles,
    teams, servers, rules and shared credentials change who reaches what); the clients of
    `gateway_ids`, whose lists the change alters, are told."""
    gateway_ids = list(gateway_ids)  # read now: the rows may be gone by the commit

    def publish():
        cache.set(epoch_key(workspace_id), secrets.token_hex(8), None)
        for gateway_id in gateway_ids:
            announce(gateway_id)

    transaction.on_commit(publish)
