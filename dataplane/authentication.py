"""Step 2 of the lifecycle: who is calling. A gateway token (`gth_...` of kind `gateway`) or an
OAuth access token (`gto_...`) issued by this platform for one gateway, looked up through the
cache.

Lookups are cached under the token's digest (never the token) for at most
MCP_TOKEN_CACHE_SECONDS and never past the token's expiry; revoking a token, or rotating an
OAuth refresh token, deletes the entry, so an ended token is refused on the next request. An
OAuth token's principal carries the gateway its resource names, so the endpoint refuses it on
any other gateway; a token bound to a workspace URL (`workspace_url`) carries the gateway picked
at consent, and is accepted at that workspace URL only.
"""

import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from identities import selectors as identity_selectors
from identities.inbound import tokens
from identities.inbound.oauth import credentials as oauth_credentials
from identities.inbound.oauth import selectors as oauth_selectors
from identities.models import ApiToken


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    workspace_id: int
    token_id: int
    gateway_id: int | None
    client_id: int | None = None  # the OAuth client, for OAuth access tokens
    gateway_slug: str | None = None  # of `gateway_id`: what a workspace URL serves
    workspace_url: bool = False  # an OAuth token bound to `/mcp/<workspace>`

    @property
    def key(self) -> str:
        # Refreshing an OAuth token replaces it, so sessions stay with the client and person.
        if self.client_id is not None:
            return f"o{self.client_id}.{self.user_id}"
        return f"t{self.token_id}"


def cache_key(secret: str) -> str:
    return tokens.lookup_cache_key(tokens.digest(secret))


def bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, secret = value.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def _well_formed(secret: str) -> bool:
    return tokens.is_well_formed(secret) or oauth_credentials.is_access_token(secret)


def _lookup(secret: str) -> dict:
    if oauth_credentials.is_access_token(secret):
        return oauth_selectors.access_token_entry(secret) or {"invalid": True}
    token = identity_selectors.active_token(secret)
    # Only gateway tokens open MCP URLs; an api, connector or SCIM token is as good as none.
    if token is None or token.kind != ApiToken.Kind.GATEWAY:
        return {"invalid": True}
    identity_selectors.touch(token)
    return {
        "user_id": token.user_id,
        "email": token.user.email,
        "workspace_id": token.workspace_id,
        "token_id": token.pk,
        "gateway_id": token.gateway_id,
        "gateway_slug": token.gateway.slug if token.gateway_id else None,
        "expires": token.expires_at.timestamp() if token.expires_at else None,
    }


def _ttl(entry: dict) -> int:
    # Unknown tokens are remembered briefly so a flood of bad tokens stays off the database.
    if entry.get("invalid"):
        return 5
    ttl = settings.MCP_TOKEN_CACHE_SECONDS
    if entry["expires"] is not None:
        ttl = min(ttl, int(entry["expires"] - time.time()) + 1)
    return max(ttl, 1)


async def principal_for(secret: str | None, cached: dict | None) -> Principal | None:
    """The caller behind `secret`; `cached` is its cache entry if the caller fetched it already."""
    if secret is None or not _well_formed(secret):
        return None
    entry = cached
    if entry is None:
        entry = await sync_to_async(_lookup)(secret)
        await cache.aset(cache_key(secret), entry, _ttl(entry))
    if entry.get("invalid"):
        return None
    if entry["expires"] is not None and entry["expires"] <= time.time():
        return None
    return Principal(
        user_id=entry["user_id"],
        email=entry["email"],
        workspace_id=entry["workspace_id"],
        token_id=entry["token_id"],
        gateway_id=entry["gateway_id"],
        client_id=entry.get("client_id"),
        gateway_slug=entry.get("gateway_slug"),
        workspace_url=entry.get("workspace_url", False),
    )


def opens_gateway(principal: Principal | None, *, workspace_id: int, gateway_id: int) -> bool:
    """Whether `principal` may open this gateway's URL: a token of its workspace bound to it or
    to no gateway. A token bound to the workspace URL opens that URL only."""
    return (
        principal is not None
        and principal.workspace_id == workspace_id
        and principal.gateway_id in (None, gateway_id)
        and not principal.workspace_url
    )
