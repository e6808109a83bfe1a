"""Step 2 of the lifecycle: who is calling. A gateway API token, looked up through the cache.

Token lookups are cached for MCP_TOKEN_CACHE_SECONDS under the token's digest (never the token);
revoking a token deletes its entry, so a revoked token is refused on the next request.
"""

import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from identities import selectors as identity_selectors
from identities import tokens


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    workspace_id: int
    token_id: int
    gateway_id: int | None

    @property
    def key(self) -> str:
        return f"t{self.token_id}"


def cache_key(secret: str) -> str:
    return f"tok:{tokens.digest(secret)}"


def bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, secret = value.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def _lookup(secret: str) -> dict:
    token = identity_selectors.active_token(secret)
    if token is None:
        return {"invalid": True}
    identity_selectors.touch(token)
    return {
        "user_id": token.user_id,
        "email": token.user.email,
        "workspace_id": token.workspace_id,
        "token_id": token.pk,
        "gateway_id": token.gateway_id,
        "expires": token.expires_at.timestamp() if token.expires_at else None,
    }


async def principal_for(secret: str | None, cached: dict | None) -> Principal | None:
    """The caller behind `secret`; `cached` is its cache entry if the caller fetched it already."""
    if secret is None or not tokens.is_well_formed(secret):
        return None
    entry = cached
    if entry is None:
        entry = await sync_to_async(_lookup)(secret)
        # Unknown tokens are remembered briefly so a flood of bad tokens stays off the database.
        ttl = 5 if entry.get("invalid") else settings.MCP_TOKEN_CACHE_SECONDS
        await cache.aset(cache_key(secret), entry, ttl)
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
    )
