"""Reads of the gateways app, scoped to a workspace and to what a member may reach.

The provisioning rule is defined here and nowhere else: a member may use a gateway of their
workspace when their role holds `gateways.use_all`, or when they are in a team the gateway is
provisioned to. `gateways_usable_by` reads it from the member's side and `members_provisioned_to`
from the gateway's; every other app (tokens, OAuth consent, upstream connections, the server
list, the data plane's snapshot) builds on one of the two.
"""

from django.db.models import Q

from gateways import admission, pinning
from gateways.models import Assignment, Gateway
from servers.models import Server
from teams.capabilities import GATEWAYS_USE_ALL, SERVERS_VIEW_ALL
from teams.models import Membership, Role
from teams.scoping import get_scoped_or_404


def gateways_usable_by(membership: Membership):
    """The gateways of the member's workspace that the member may use."""
    gateways = Gateway.objects.for_workspace(membership.workspace_id)
    if not membership.active:
        return gateways.none()  # a suspended member may use nothing
    if membership.has(GATEWAYS_USE_ALL):
        return gateways
    return gateways.filter(teams__memberships=membership).distinct()


def members_provisioned_to(gateway: Gateway):
    """The members of the gateway's workspace who may use it.

    Capabilities are a JSON list, which not every supported database can search, so the
    workspace's few roles are read here (one query) and the members matched by role id.
    """
    roles = Role.objects.for_workspace(gateway.workspace_id).only("capabilities")
    use_all = [role.pk for role in roles if GATEWAYS_USE_ALL in role.capability_set]
    return (
        Membership.objects.for_workspace(gateway.workspace_id)
        .filter(Q(role_id__in=use_all) | Q(teams__gateways=gateway))
        .distinct()
    )


def gateways_visible_to(membership: Membership):
    """The gateways a member sees in the console and the API: those they may use, by slug."""
    return gateways_usable_by(membership).prefetch_related("teams").order_by("slug")


def assignments_usable_by(membership: Membership):
    """The assignments on the gateways the member may use."""
    return Assignment.objects.for_workspace(membership.workspace_id).filter(
        gateway__in=gateways_usable_by(membership)
    )


def servers_visible_to(membership: Membership):
    """Every server of the workspace with `servers.view_all`, else those assigned to a gateway
    the member may use. Here rather than in `servers`, which sits below the rule it needs."""
    servers = Server.objects.for_workspace(membership.workspace_id)
    if membership.has(SERVERS_VIEW_ALL):
        return servers.order_by("name")
    usable = assignments_usable_by(membership).values("server_id")
    return servers.filter(pk__in=usable).order_by("name")


def servers_down_visible_to(membership: Membership):
    """The servers the member sees whose last health check failed, longest down first."""
    return (
        servers_visible_to(membership)
        .filter(health=Server.Health.DOWN)
        .order_by("health_checked_at", "name")
        .only("name", "health_detail", "health_checked_at")
    )


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


def gateway_catalogs(assignment: Assignment) -> list[tuple[int, str, dict]]:
    """(server id, name, discovered catalog) of each assignment on the assignment's gateway,
    read afresh: the inputs of its admission checks."""
    rows = (
        Assignment.objects.for_workspace(assignment.workspace_id)
        .filter(gateway_id=assignment.gateway_id)
        .values_list("server_id", "server__name", "server__catalog")
    )
    return [(server_id, name, catalog or {}) for server_id, name, catalog in rows]


def admission_holds(assignment: Assignment, catalogs=None) -> list[admission.Hold]:
    """The tools the assignment exposes that the admission checks flag, in a definition no
    admin approved: withheld from clients. `catalogs`: `gateway_catalogs`, when already read."""
    if catalogs is None:
        catalogs = gateway_catalogs(assignment)
    own = next((c for s, _n, c in catalogs if s == assignment.server_id), None)
    if own is None:
        own = assignment.server.catalog
    tools = {
        name: tool
        for name, tool in pinning.discovered_tools(own).items()
        if assignment.exposes(name, tool.get("annotations"))
    }
    return admission.holds(
        tools,
        admission.approved_digests(assignment.tool_admissions),
        other_tools=admission.other_tools(assignment.server_id, catalogs),
        known_hosts=admission.known_hosts(assignment.server.url),
        bare=not assignment.namespace or assignment.prefix_mode == Assignment.PrefixMode.NEVER,
    )
