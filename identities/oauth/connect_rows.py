"""The upstream accounts a gateway needs from the person at consent (`user_oauth` assignments),
each with its status and where its Connect button goes, so the first tool call already works."""

from django.urls import reverse

from identities import selectors
from identities.models import UpstreamConnection
from teams.models import Membership

NOT_CONNECTED = "not connected"
CONNECTED = "connected"
NEEDS_RECONNECT = "needs reconnecting"


def _status(connection) -> str:
    if connection is None:
        return NOT_CONNECTED
    if connection.status == UpstreamConnection.Status.CONNECTED:
        return CONNECTED
    return NEEDS_RECONNECT


def rows_for(user, workspace, gateways, return_path) -> list[dict]:
    """One row per `user_oauth` assignment of `gateways` (all usable by `user`): the assignment,
    its status, the connect URL, and `next`, the page to come back to (`return_path(slug)`)."""
    membership = (
        (Membership.objects.for_workspace(workspace).select_related("role", "workspace"))
        .filter(user=user)
        .first()
    )
    if membership is None:
        return []
    assignments = selectors.oauth_assignments_for(membership).filter(
        gateway__in=[g.pk for g in gateways]
    )
    rows = []
    for assignment in assignments:
        connection = assignment.mine[0] if assignment.mine else None
        rows.append(
            {
                "assignment": assignment,
                "status": _status(connection),
                "connect_url": reverse(
                    "connection-connect",
                    kwargs={"ws": workspace.slug, "assignment_id": assignment.pk},
                ),
                "next": return_path(assignment.gateway.slug),
            }
        )
    return rows
