"""The upstream accounts a gateway needs from the person at consent (`user_oauth` assignments),
each with its status and where its Connect button goes, and the tokens of their own it takes
(`manual` assignments), each with its status and a link to the form that sets it; so the first
tool call already works."""

from urllib.parse import urlencode

from django.urls import reverse

from identities import selectors
from identities.models import UpstreamConnection
from identities.upstream import manual_status
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


def _membership(user, workspace):
    return (
        (Membership.objects.for_workspace(workspace).select_related("role", "workspace"))
        .filter(user=user)
        .first()
    )


def rows_for(user, workspace, gateways, return_path) -> list[dict]:
    """One row per `user_oauth` assignment of `gateways` (all usable by `user`): the assignment,
    its status, the connect URL, and `next`, the page to come back to (`return_path(slug)`)."""
    membership = _membership(user, workspace)
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


def manual_rows_for(user, workspace, gateways, return_path) -> list[dict]:
    """One row per `manual` assignment of `gateways` (all usable by `user`): the assignment, its
    status, and `set_url`, its form on the connections page, which comes back to
    `return_path(slug)` once the token is set."""
    membership = _membership(user, workspace)
    if membership is None:
        return []
    assignments = selectors.manual_assignments_for(membership).filter(
        gateway__in=[g.pk for g in gateways]
    )
    rows = []
    for assignment in assignments:
        query = urlencode(
            {"assignment": assignment.pk, "next": return_path(assignment.gateway.slug)}
        )
        page = reverse("connections", kwargs={"ws": workspace.slug})
        rows.append(
            {
                "assignment": assignment,
                "status": manual_status.status_of(assignment),
                "set_url": f"{page}?{query}#manual-{assignment.pk}",
            }
        )
    return rows
