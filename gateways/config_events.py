"""Telling data-plane workers that a gateway's configuration changed.

After the transaction commits, the gateway's token in the shared cache is replaced (workers
compare it on every request and recompile their snapshot) and connected clients are sent
`notifications/tools/list_changed` through the channel layer.
"""

import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction


def version_key(workspace_id: int, slug: str) -> str:
    return f"gw:v:{workspace_id}:{slug}"


def group_name(gateway_id: int) -> str:
    return f"mcp.gateway.{gateway_id}"


LIST_CHANGED = (
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
)


def announce(gateway_id: int, methods=LIST_CHANGED) -> None:
    """Send list_changed notifications to every client stream open on the gateway."""
    layer = get_channel_layer()
    if layer is None:
        return
    for method in methods:
        async_to_sync(layer.group_send)(
            group_name(gateway_id),
            {"type": "mcp.notify", "message": {"jsonrpc": "2.0", "method": method}},
        )


def gateway_changed(*, workspace_id: int, slug: str, gateway_id: int) -> None:
    def publish():
        cache.set(version_key(workspace_id, slug), secrets.token_hex(8), None)
        announce(gateway_id)

    transaction.on_commit(publish)
