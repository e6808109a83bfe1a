"""Reads of the authorization server: the data plane's view of an OAuth access token."""

from oauth2_provider.models import get_access_token_model

from identities import client_access, tokens
from identities.oauth import credentials, resources


def access_token_entry(secret: str) -> dict | None:
    """The caller behind a live OAuth access token and the gateway it is bound to, or None.

    A token without exactly one resource, or whose resource no longer names a gateway, opens
    nothing: every token this server issues is bound to one gateway. Nor does the token of a
    client app the workspace switched off for that gateway.
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
    gateway = resources.gateway_for_resource(token.resource[0])
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
        "client_id": token.application_id,
        "expires": token.expires.timestamp(),
    }
