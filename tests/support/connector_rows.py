"""Connector rows as a connection leaves them: a connector token of a member, and the row its
socket wrote, so pages and the API have connectors to show without a socket."""

from datetime import timedelta

from django.utils import timezone

from identities.models import Connector
from identities.services import issue_token
from teams.models import Membership


def connector_of(workspace, user, *, servers=("files",), host="laptop", channel_name="", **row):
    """A connected connector of `user` (a live one unless `row` says otherwise)."""
    membership = Membership.objects.get(workspace=workspace, user=user)
    issued = issue_token(membership=membership, name=host, actor=user, kind="connector")
    return Connector.objects.create(
        workspace=workspace,
        user=user,
        token=issued.token,
        host_name=host,
        version="0.1.0",
        servers=list(servers),
        channel_name=channel_name,
        **row,
    )


def silent_since(seconds: float) -> dict:
    """The row fields of a connector last heard from `seconds` ago."""
    return {"last_heartbeat_at": timezone.now() - timedelta(seconds=seconds)}
