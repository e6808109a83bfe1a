"""Reads of the servers app, scoped to a workspace.

Which servers a member may see depends on the gateways they may use, so that read is
`gateways.selectors.servers_visible_to`, beside the provisioning rule.
"""

from servers.models import Server
from teams.scoping import get_scoped_or_404


def access_server(workspace, name: str) -> Server:
    return get_scoped_or_404(Server.objects, workspace, name=name)


def server_named(workspace, name: str) -> Server | None:
    """A server of the workspace by name, or None; for references inside a request body."""
    return Server.objects.for_workspace(workspace).filter(name=name).first()
