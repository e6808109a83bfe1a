"""Telling the gateways that serve a server that what it offers changed.

A gateway's snapshot compiles what the other servers on it offer (the admission checks' shadowing
inputs), so a server's edit, removal or newly discovered tool names must reach every snapshot.
"""

from core import config_events
from servers.models import Server


def tell_gateways_of(server: Server) -> None:
    """Recompile the workspace's snapshots and tell the clients of the gateways serving `server`.

    The gateways' own `config_version` is bumped only by the gateways app's services: a server
    change reaches their snapshots through the workspace epoch.
    """
    config_events.workspace_changed(
        workspace_id=server.workspace_id,
        gateway_ids=server.assignments.values_list("gateway_id", flat=True).distinct(),
    )
