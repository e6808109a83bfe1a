"""The workspace URL, `/mcp/<workspace>`: one address for a person's gateways in a workspace.

It serves exactly one gateway per caller, named by the caller's token, as that gateway's own
URL does (same snapshot, rules, audit and sessions): an OAuth token issued for the workspace URL
opens the gateway picked at consent, and a gateway API token scoped to one gateway opens that
gateway. Audiences stay strict: an OAuth token issued for a gateway URL is refused here, and a
workspace-URL token is refused at every gateway URL (dataplane/endpoint.py). An API token scoped
to no gateway gets an error naming the gateway URLs to use instead.

It costs one cache round trip more than a gateway URL: the gateway is known only once the token
is, so the snapshot versions are read after it.
"""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from core import rate_limiting
from dataplane import audit_trail, near_cache, session
from dataplane.authentication import cache_key, principal_for
from dataplane.http import HttpError, request_origin, unauthenticated
from dataplane.snapshot import registry
from gateways.selectors import gateways_usable_by
from teams.models import Membership


def _gateway_slugs(workspace_id: int, user_id: int) -> list[str]:
    membership = (
        Membership.objects.for_workspace(workspace_id)
        .select_related("role", "workspace")
        .filter(user_id=user_id)
        .first()
    )
    if membership is None:
        return []
    return list(gateways_usable_by(membership).order_by("slug").values_list("slug", flat=True))


async def _gateway_urls(origin: str, workspace_id: int, workspace_slug: str, user_id: int):
    # Only an unscoped API token ends here; the list is cached briefly so a client retrying in a
    # loop stays off the database.
    key = f"wsgateways:{workspace_id}:{user_id}"
    slugs = await cache.aget(key)
    if slugs is None:
        slugs = await sync_to_async(_gateway_slugs)(workspace_id, user_id)
        await cache.aset(key, slugs, settings.MCP_TOKEN_CACHE_SECONDS)
    return [f"{origin}/mcp/{workspace_slug}/{slug}" for slug in slugs]


async def resolve(scope, headers, workspace_slug: str, secret, session_id):
    """The snapshot of the gateway the caller's token names, the caller, and the cache entries
    read on the way; raises HttpError (404, 401, 400) otherwise."""
    workspace_id = await registry.workspace_id(workspace_slug)
    if workspace_id is None:
        raise HttpError(404, f"No workspace '{workspace_slug}'.")
    keys = [cache_key(secret)] if secret else []
    if session_id:
        keys.append(session.ended_key(session_id))
    found = await near_cache.get_many(keys)
    principal = await principal_for(secret, found.get(cache_key(secret)) if secret else None)
    if principal is not None and principal.workspace_id != workspace_id:
        workspace_id = await registry.fresh_workspace_id(workspace_slug)
    if (
        principal is None
        or principal.workspace_id != workspace_id
        # An OAuth token opens the workspace URL only if it was issued for it.
        or (principal.client_id is not None and not principal.workspace_url)
    ):
        raise unauthenticated(scope, headers, workspace_slug, None, secret)
    if principal.gateway_slug is None:
        urls = await _gateway_urls(
            request_origin(scope, headers), workspace_id, workspace_slug, principal.user_id
        )
        raise HttpError(
            400,
            "This token is not scoped to one gateway, so the workspace URL cannot tell which "
            "gateway to serve. Use a gateway URL: "
            + (", ".join(urls) or "none is provisioned to you")
            + ". Or use a token scoped to one gateway.",
            data={"gatewayUrls": urls},
        )
    snapshot = await registry.get(workspace_slug, principal.gateway_slug)
    if (
        snapshot is None
        or snapshot.id != principal.gateway_id
        or snapshot.workspace_id != principal.workspace_id
    ):
        # The gateway was deleted (its slug perhaps reused) since the token was looked up.
        if snapshot is not None:
            await audit_trail.auth_denied(
                snapshot=snapshot,
                reason="invalid token",
                source=rate_limiting.scope_ip(scope, headers),
            )
        raise unauthenticated(scope, headers, workspace_slug, None, secret)
    return snapshot, principal, found
