"""Reads of the servers app, scoped to a workspace and to what a member may see."""

from servers.models import Server
from teams.capabilities import GATEWAYS_USE_ALL, SERVERS_VIEW_ALL
from teams.models import Membership
from teams.scoping import get_scoped_or_404


def servers_visible_to(membership: Membership):
    """Every server with `servers.view_all`, else those on gateways the member can see.

    Gateways are followed through the reverse relation names so this app never imports
    `gateways` (dependencies point from gateways to servers only).
    """
    servers = Server.objects.for_workspace(membership.workspace)
    if membership.has(SERVERS_VIEW_ALL):
        return servers.order_by("name")
    if membership.has(GATEWAYS_USE_ALL):
        servers = servers.filter(assignments__isnull=False)
    else:
        servers = servers.filter(assignments__gateway__teams__memberships=membership)
    return servers.distinct().order_by("name")


def access_server(workspace, name: str) -> Server:
    return get_scoped_or_404(Server.objects, workspace, name=name)


def server_named(workspace, name: str) -> Server | None:
    """A server of the workspace by name, or None; for references inside a request body."""
    return Server.objects.for_workspace(workspace).filter(name=name).first()
