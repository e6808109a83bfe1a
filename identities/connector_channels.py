"""Telling connected connectors that their token was revoked, over the channel layer.

Each live connection's consumer listens on its row's `channel_name`; a `tunnel.revoke` message
makes it say `bye` and close the socket (4410), so a revoked token stops serving at once rather
than at its next sign-in."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from identities.models import ApiToken, Connector

logger = logging.getLogger(__name__)

REVOKED_REASON = "the connector's token was revoked"


def revoke_connections_of(token: ApiToken) -> None:
    """After the current transaction commits, close every open connection made with `token`."""
    if token.kind == ApiToken.Kind.CONNECTOR:
        revoke_connections(Connector.objects.for_workspace(token.workspace_id).filter(token=token))


def revoke_connections(connectors) -> None:
    """After the current transaction commits, close the open connections among `connectors`
    (read now, so a caller revoking their tokens in bulk calls this first)."""
    channels = list(
        connectors.filter(disconnected_at__isnull=True)
        .exclude(channel_name="")
        .values_list("channel_name", flat=True)
    )
    if channels:
        transaction.on_commit(lambda: _send_revoke(channels))


def _send_revoke(channels: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.send)
    for channel in channels:
        try:
            send(channel, {"type": "tunnel.revoke", "reason": REVOKED_REASON})
        except Exception:
            # The token is revoked whatever happens here: the connector is refused at its next
            # sign-in, so a channel layer that is down must not undo or fail the revocation.
            logger.warning("could not tell connector channel %s of its revocation", channel)
