"""Connectors (`gatehouse-connect` connections): who may see which, and revoking one.

A person sees and revokes their own connectors; `servers.manage` extends that to every connector
of the workspace. A connector is live while its row is not ended, its token is not revoked, and
its last heartbeat is within three heartbeat intervals (a consumer that died without ending its
row stops counting as live on its own)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import CapabilityRequired
from identities.models import Connector
from identities.services import revoke_token
from teams.capabilities import SERVERS_MANAGE
from teams.changes import record_change
from teams.scoping import get_scoped_or_404


def heartbeat_seconds() -> float:
    return float(getattr(settings, "WORKSTATION_HEARTBEAT_SECONDS", 15))


def _with_related(qs):
    return qs.select_related("user", "token").order_by("-connected_at", "-pk")


def can_see_all(membership) -> bool:
    return SERVERS_MANAGE in membership.role.capability_set


def connectors_of_member(membership):
    """The connectors a member runs themselves."""
    return _with_related(
        Connector.objects.for_workspace(membership.workspace).filter(user_id=membership.user_id)
    )


def connectors_of_workspace(workspace):
    return _with_related(Connector.objects.for_workspace(workspace))


def connectors_visible_to(membership, *, see_all: bool):
    """Everyone's when `see_all` (the caller may use `servers.manage`), else the member's own."""
    if see_all:
        return connectors_of_workspace(membership.workspace)
    return connectors_of_member(membership)


def serving(connectors, server_name: str):
    # `servers` is a JSON list of server names, which hold no quote: its text holds `"name"`
    # exactly when the list does, on every database (SQLite has no JSON containment lookup).
    return connectors.filter(servers__icontains=f'"{server_name}"')


def connectors_of_server(workspace, server_name: str):
    """Every connector of the workspace that serves `server_name`."""
    return serving(connectors_of_workspace(workspace), server_name)


def live(connectors):
    since = timezone.now() - timedelta(seconds=3 * heartbeat_seconds())
    return connectors.filter(
        disconnected_at__isnull=True, token__revoked_at__isnull=True, last_heartbeat_at__gte=since
    )


def is_live(connector: Connector) -> bool:
    since = timezone.now() - timedelta(seconds=3 * heartbeat_seconds())
    return (
        connector.disconnected_at is None
        and connector.token.revoked_at is None
        and connector.last_heartbeat_at >= since
    )


def access_connector(membership, connector_id, *, see_all: bool) -> Connector:
    """A connector the member may see, or a 404 (another workspace's, or another person's
    without `servers.manage`, is as missing as one that never was)."""
    return get_scoped_or_404(
        connectors_visible_to(membership, see_all=see_all), membership.workspace, pk=connector_id
    )


@transaction.atomic
def revoke(connector: Connector, acting_member) -> Connector:
    """Revoke the connector's token, which closes its socket (and any other made with it)."""
    if connector.workspace_id != acting_member.workspace_id:
        raise CapabilityRequired(SERVERS_MANAGE)
    if connector.user_id != acting_member.user_id and not can_see_all(acting_member):
        raise CapabilityRequired(SERVERS_MANAGE)
    if connector.token.revoked_at is not None:
        return connector  # Revoked already: its sockets were told then, and logged.
    actor = acting_member.user
    revoke_token(token=connector.token, actor=actor)
    record_change(
        workspace=acting_member.workspace,
        actor=actor,
        action="connector.revoked",
        target=connector,
        detail={
            "connector": connector.pk,
            "user": connector.user.email,
            "host": connector.host_name,
            "token": connector.token.prefix,
        },
    )
    return connector
