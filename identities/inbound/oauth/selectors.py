"""Reads of the authorization server: the data plane's view of an OAuth access token."""

from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from identities.inbound import client_access, tokens
from identities.inbound.oauth import credentials, resources
from identities.models import ChosenGateway


def _chosen_gateway(token, workspace_slug: str):
    """The gateway picked at consent for a token bound to the workspace URL `workspace_slug`."""
    family = get_refresh_token_model().objects.filter(access_token=token).values("token_family")
    chosen = (
        ChosenGateway.objects.select_related("gateway__workspace")
        .filter(token_family__in=family)
        .first()
    )
    if chosen is None or chosen.gateway.workspace.slug != workspace_slug:
        return None
    return chosen.gateway


def access_token_entry(secret: str) -> dict | None:
    """The caller behind a live OAuth access token and the gateway it opens, or None.

    A token without exactly one resource, or whose resource no longer names a gateway (or a
    workspace and the gateway picked for it at consent), opens nothing. Nor does the token of a
    client app the workspace switched off for that gateway. `workspace_url` says the token is
    bound to `/mcp/<workspace>`, which is then the only URL it opens.
    """
    if not credentials.is_access_token(secret):
        return None
    token = (
        get_access_token_model()
        .objects.select_related("user")
        .filter(token_checksum=tokens.digest(secret))
        .first()
    )
    if token is None or token.user is None or not token.user.is_active or token.is_expired():
        return None
    if len(token.resource or []) != 1:
        return None
    slugs = resources.resource_slugs(token.resource[0])
    if slugs is None:
        return None
    workspace_slug, gateway_slug = slugs
    if gateway_slug is None:
        gateway = _chosen_gateway(token, workspace_slug)
    else:
        gateway = resources.gateway_named(workspace_slug, gateway_slug)
    if gateway is None:
        return None
    if client_access.is_disabled(
        workspace_id=gateway.workspace_id,
        application_id=token.application_id,
        gateway_id=gateway.pk,
    ):
        return None
    return {
        "user_id": token.user_id,
        "email": token.user.email,
        "workspace_id": gateway.workspace_id,
        "token_id": token.pk,
        "gateway_id": gateway.pk,
        "gateway_slug": gateway.slug,
        "workspace_url": gateway_slug is None,
        "client_id": token.application_id,
        "expires": token.expires.timestamp(),
    }
