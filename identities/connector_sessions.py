"""The connector socket's writes and reads (sync; the consumer runs them in a thread): who a
connector token belongs to, which workstation servers that person may serve, and the Connector
row of each connection with its admin-log rows.

A personal workstation server is served by anyone's connector for its owner alone; a shared one
only by a member whose role holds `servers.deploy_workstation`, since whoever serves it receives
every caller's calls.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from identities import selectors
from identities.models import ApiToken, Connector
from servers.models import Server
from teams.capabilities import SERVERS_DEPLOY_WORKSTATION
from teams.changes import record_change
from teams.models import Membership

# Close codes of the connector socket (docs/workstations.md).
INVALID_TOKEN = 4401
NOT_ALLOWED = 4403
HEARTBEAT_LOST = 4408
REPLACED = 4409
REVOKED = 4410
TOO_MANY = 4429


@dataclass(frozen=True)
class ConnectorCaller:
    token_id: int
    workspace_id: int
    user_id: int
    email: str


@dataclass(frozen=True)
class Offer:
    server_id: int
    name: str
    command: str
    args: tuple[str, ...]
    env_keys: tuple[str, ...]
    url: str
    scope: str

    def frame(self) -> dict:
        return {
            "name": self.name,
            "command": self.command,
            "args": list(self.args),
            "env_keys": list(self.env_keys),
            "url": self.url,
            "scope": self.scope,
        }


def authenticate(secret: str) -> ConnectorCaller | int:
    """The caller behind a connector token, or the close code that refuses it."""
    token = selectors.active_token(secret)
    if token is None:
        return INVALID_TOKEN
    if token.kind != ApiToken.Kind.CONNECTOR:
        return NOT_ALLOWED
    if not Membership.objects.filter(
        workspace_id=token.workspace_id, user_id=token.user_id
    ).exists():
        return NOT_ALLOWED
    selectors.touch(token)
    return ConnectorCaller(token.pk, token.workspace_id, token.user_id, token.user.email)


def still_allowed(caller: ConnectorCaller) -> bool:
    """Whether the token is live and its owner still an active member."""
    token = (
        ApiToken.objects.for_workspace(caller.workspace_id)
        .select_related("user")
        .filter(pk=caller.token_id)
        .first()
    )
    return (
        token is not None
        and token.is_active()
        and token.user.is_active
        and Membership.objects.filter(
            workspace_id=caller.workspace_id, user_id=caller.user_id
        ).exists()
    )


def offers_for(caller: ConnectorCaller) -> list[Offer]:
    """Every workstation server of the workspace this person's connector may serve."""
    membership = (
        Membership.objects.for_workspace(caller.workspace_id)
        .select_related("role")
        .filter(user_id=caller.user_id)
        .first()
    )
    if membership is None:
        return []
    servers = Server.objects.for_workspace(caller.workspace_id).filter(kind=Server.Kind.WORKSTATION)
    if not membership.has(SERVERS_DEPLOY_WORKSTATION):
        servers = servers.filter(scope=Server.Scope.PERSONAL)
    return [
        Offer(
            s.pk,
            s.name,
            s.command,
            tuple(str(a) for a in s.args or ()),
            tuple(str(k) for k in s.env_keys or ()),
            s.url,
            s.scope,
        )
        for s in servers.order_by("name")
    ]


def _live_connectors(caller: ConnectorCaller):
    """The connections of this token that are still alive: not ended, and heard from lately
    (a worker that died leaves its rows unended, and they must not count for ever)."""
    every = settings.WORKSTATION_HEARTBEAT_SECONDS
    heard_since = timezone.now() - timezone.timedelta(seconds=max(60, every) + 3 * every)
    return Connector.objects.for_workspace(caller.workspace_id).filter(
        token_id=caller.token_id, disconnected_at__isnull=True, last_heartbeat_at__gte=heard_since
    )


@transaction.atomic
def connected(
    *, caller: ConnectorCaller, host: str, version: str, servers: list[str], channel: str
) -> int | None:
    """Write the Connector row of a new connection and its admin-log row; its id, or None when
    the token already has WORKSTATION_MAX_CONNECTIONS_PER_TOKEN live connections."""
    if _live_connectors(caller).count() >= settings.WORKSTATION_MAX_CONNECTIONS_PER_TOKEN:
        return None
    connector = Connector.objects.create(
        workspace_id=caller.workspace_id,
        user_id=caller.user_id,
        token_id=caller.token_id,
        host_name=host[:255],
        version=version[:64],
        servers=servers,
        channel_name=channel,
    )
    record_change(
        workspace=connector.workspace,
        actor=connector.user,
        action="connector.connected",
        target=connector,
        detail={"host": connector.host_name, "version": connector.version, "servers": servers},
    )
    return connector.pk


def serving(*, caller: ConnectorCaller, connector_id: int, servers: list[str]) -> None:
    """A later hello changed what the connector serves."""
    Connector.objects.for_workspace(caller.workspace_id).filter(pk=connector_id).update(
        servers=servers
    )


def heartbeat(*, caller: ConnectorCaller, connector_id: int) -> None:
    """Note that the connector is alive; at most one write per minute."""
    now = timezone.now()
    stale = now - timezone.timedelta(seconds=max(60, settings.WORKSTATION_HEARTBEAT_SECONDS))
    Connector.objects.for_workspace(caller.workspace_id).filter(
        pk=connector_id, last_heartbeat_at__lt=stale
    ).update(last_heartbeat_at=now)


@transaction.atomic
def disconnected(*, caller: ConnectorCaller, connector_id: int, reason: str) -> None:
    """End the Connector row of a connection, and write its admin-log row."""
    connector = (
        Connector.objects.for_workspace(caller.workspace_id)
        .select_related("workspace", "user")
        .filter(pk=connector_id, disconnected_at__isnull=True)
        .first()
    )
    if connector is None:
        return
    connector.disconnected_at = timezone.now()
    connector.disconnect_reason = reason[:200]
    connector.save(update_fields=["disconnected_at", "disconnect_reason"])
    record_change(
        workspace=connector.workspace,
        actor=connector.user,
        action="connector.disconnected",
        target=connector,
        detail={"host": connector.host_name, "reason": connector.disconnect_reason},
    )
