"""Reads of the gateways app, scoped to a workspace and to what a member may reach."""

from gateways.models import Assignment, Gateway
from teams.capabilities import GATEWAYS_USE_ALL
from teams.models import Membership
from teams.scoping import get_scoped_or_404


def gateways_visible_to(membership: Membership):
    """Every gateway with `gateways.use_all`, else those provisioned to the member's teams."""
    gateways = Gateway.objects.for_workspace(membership.workspace)
    if not membership.has(GATEWAYS_USE_ALL):
        gateways = gateways.filter(teams__memberships=membership).distinct()
    return gateways.prefetch_related("teams").order_by("slug")


def can_use_gateway(membership: Membership, gateway: Gateway) -> bool:
    if membership.workspace_id != gateway.workspace_id:
        return False
    if membership.has(GATEWAYS_USE_ALL):
        return True
    return gateway.teams.filter(memberships=membership).exists()


def access_gateway(workspace, slug: str) -> Gateway:
    return get_scoped_or_404(Gateway.objects, workspace, slug=slug)


def access_visible_gateway(membership: Membership, slug: str) -> Gateway:
    """A gateway the member may see; one they may not is the same 404 as a missing one."""
    return get_scoped_or_404(gateways_visible_to(membership), membership.workspace, slug=slug)


def assignments_of(gateway: Gateway):
    return (
        Assignment.objects.for_workspace(gateway.workspace_id)
        .filter(gateway=gateway)
        .select_related("server")
        .order_by("position", "id")
    )


def access_assignment(gateway: Gateway, assignment_id) -> Assignment:
    return get_scoped_or_404(
        Assignment.objects.select_related("server", "gateway").filter(gateway=gateway),
        gateway.workspace_id,
        pk=assignment_id,
    )
