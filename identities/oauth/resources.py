"""Resource indicators (RFC 8707): the gateway URL a token is bound to, and who may use it.

A gateway's resource identifier is its URL, `<scheme>://<host>/mcp/<workspace>/<gateway>`, on a
host this platform serves. The authorization server only issues tokens for such URLs, and the
data plane maps a token's resource back to the one gateway it may open.
"""

from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from teams.capabilities import GATEWAYS_USE_ALL
from teams.models import Membership, Workspace


def _gateway_model():
    # gateways depends on identities, not the reverse, so the model is reached by its name.
    return apps.get_model("gateways", "Gateway")


def resource_url(request, workspace_slug: str, gateway_slug: str) -> str:
    return request.build_absolute_uri(f"/mcp/{workspace_slug}/{gateway_slug}")


def gateway_slugs(resource: str) -> tuple[str, str] | None:
    """(workspace slug, gateway slug) of a gateway URL served here, or None for anything else."""
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
    if len(segments) != 4 or segments[0] != "" or segments[1] != "mcp":
        return None
    if not segments[2] or not segments[3]:
        return None
    return segments[2], segments[3]


def gateway_named(workspace_slug: str, gateway_slug: str):
    workspace = Workspace.objects.filter(slug=workspace_slug).first()
    if workspace is None:
        return None
    return (
        _gateway_model()
        .objects.for_workspace(workspace)
        .select_related("workspace")
        .filter(slug=gateway_slug)
        .first()
    )


def gateway_for_resource(resource: str):
    """The gateway that `resource` names, or None."""
    slugs = gateway_slugs(resource)
    return gateway_named(*slugs) if slugs else None


def may_use(user, gateway) -> bool:
    """Whether `user` is provisioned to `gateway`: a member of one of its teams, or `use_all`.

    The same rule the data plane compiles into `GatewaySnapshot.allowed_user_ids`.
    """
    if not user.is_authenticated:
        return False
    membership = (
        Membership.objects.for_workspace(gateway.workspace_id)
        .select_related("role")
        .filter(user=user)
        .first()
    )
    if membership is None:
        return False
    if membership.has(GATEWAYS_USE_ALL):
        return True
    return (
        _gateway_model()
        .objects.for_workspace(gateway.workspace_id)
        .filter(pk=gateway.pk, teams__memberships=membership)
        .exists()
    )
