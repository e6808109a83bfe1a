"""Resource indicators (RFC 8707): the URL a token is bound to, and who may use it.

Two kinds of URL on a host this platform serves are resources: a gateway's,
`<scheme>://<host>/mcp/<workspace>/<gateway>`, and a workspace's, `<scheme>://<host>/mcp/<workspace>`,
where the person picks one of their gateways at consent. The authorization server only issues
tokens for such URLs, and the data plane maps a token's resource back to the one gateway it may
open.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from gateways.models import Gateway
from gateways.selectors import gateways_usable_by
from teams.models import Membership, Workspace


def resource_url(request, workspace_slug: str, gateway_slug: str | None = None) -> str:
    path = f"/mcp/{workspace_slug}/{gateway_slug}" if gateway_slug else f"/mcp/{workspace_slug}"
    return request.build_absolute_uri(path)


def resource_slugs(resource: str) -> tuple[str, str | None] | None:
    """(workspace slug, gateway slug or None for a workspace URL) of a URL served here, or None."""
    try:
        parts = urlsplit(resource)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return None
    if parts.username or parts.password:
        return None
    domain, _port = split_domain_port(parts.netloc)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    segments = parts.path.rstrip("/").split("/")
    if len(segments) not in (3, 4) or segments[0] != "" or segments[1] != "mcp":
        return None
    if not all(segments[2:]):
        return None
    return segments[2], segments[3] if len(segments) == 4 else None


def gateway_slugs(resource: str) -> tuple[str, str] | None:
    """(workspace slug, gateway slug) of a gateway URL served here, or None for anything else."""
    slugs = resource_slugs(resource)
    return slugs if slugs and slugs[1] else None


def requested_resources(request) -> list[str]:
    """Every `resource` of an oauthlib token request (oauthlib keeps only the last one)."""
    values = [v for k, v in (request.decoded_body or []) if k == "resource"]
    return values or ([request.resource] if isinstance(request.resource, str) else [])


def gateway_named(workspace_slug: str, gateway_slug: str):
    workspace = Workspace.objects.filter(slug=workspace_slug).first()
    if workspace is None:
        return None
    return (
        Gateway.objects.for_workspace(workspace)
        .select_related("workspace")
        .filter(slug=gateway_slug)
        .first()
    )


def gateway_for_resource(resource: str):
    """The gateway that `resource` names, or None (a workspace URL names none)."""
    slugs = gateway_slugs(resource)
    return gateway_named(*slugs) if slugs else None


@dataclass(frozen=True)
class Target:
    """What an authorization request's `resource` names: one gateway, or a workspace whose
    gateway the person picks at consent (`gateway` is None until then)."""

    workspace: Workspace
    gateway: object | None
    resource: str

    @property
    def is_workspace(self) -> bool:
        return self.gateway is None


def target_for_resource(resource: str) -> Target | None:
    slugs = resource_slugs(resource)
    if slugs is None:
        return None
    workspace_slug, gateway_slug = slugs
    if gateway_slug is None:
        workspace = Workspace.objects.filter(slug=workspace_slug).first()
        return Target(workspace, None, resource) if workspace else None
    gateway = gateway_named(workspace_slug, gateway_slug)
    return Target(gateway.workspace, gateway, resource) if gateway else None


def _membership(user, workspace_id):
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.for_workspace(workspace_id)
        .select_related("role")
        .filter(user=user)
        .first()
    )


def usable_gateways(user, workspace_id: int):
    """The gateways of the workspace `user` may use (`gateways.selectors.gateways_usable_by`),
    by name; none when they are not a member."""
    membership = _membership(user, workspace_id)
    if membership is None:
        return Gateway.objects.none()
    return gateways_usable_by(membership).select_related("workspace").order_by("name", "slug")


def may_use(user, gateway) -> bool:
    """Whether `user` is provisioned to `gateway`: a member of one of its teams, or `use_all`."""
    return usable_gateways(user, gateway.workspace_id).filter(pk=gateway.pk).exists()
