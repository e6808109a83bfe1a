"""`GET /mcp/<workspace>/<gateway>/server-card`: the gateway's Server Card (SEP-2127), served
beside the gateway URL from the same snapshot and cache reads as the endpoint, before any step of
the lifecycle runs.

An anonymous caller learns no more than the gateway URL already tells them: a gateway that does
not exist is a 404, as at its URL, and one that does shows its name, its URLs and how to sign in,
which its 401 and its resource metadata show too. The gateway's own description is added for a
caller whose token opens the gateway and who is provisioned to it. No card lists tools.
"""

import json

from dataplane import near_cache
from dataplane.authentication import bearer, cache_key, opens_gateway, principal_for
from dataplane.http import request_origin, send_empty, send_json
from dataplane.snapshot import GatewaySnapshot, registry
from gateways import server_cards
from gateways.server_cards import GatewayFacts

# Public and read-only, so any page may read it (the CORS headers the catalog spec asks for).
_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET"),
    (b"access-control-allow-headers", b"Authorization, Content-Type"),
]
# The answer depends on the token: a shared cache keeps the anonymous card only.
_VARY = (b"vary", b"Authorization")
_PUBLIC_CACHE = (b"cache-control", b"public, max-age=3600")
_PRIVATE_CACHE = (b"cache-control", b"private, no-store")


async def serve(scope, send, headers: dict, workspace_slug: str, gateway_slug: str) -> None:
    method = scope["method"]
    if method == "OPTIONS":
        await send_empty(send, 204, headers=[*_CORS, (b"access-control-max-age", b"3600")])
        return
    if method not in ("GET", "HEAD"):
        await send_json(
            send, 405, {"error": "Use GET."}, [(b"allow", b"GET, HEAD, OPTIONS"), *_CORS]
        )
        return
    secret = bearer(headers)
    workspace_id = await registry.workspace_id(workspace_slug)
    snapshot = None
    found = {}
    if workspace_id is not None:
        keys = registry.version_keys(workspace_id, gateway_slug)
        if secret:
            keys.append(cache_key(secret))
        # One cache round trip for the snapshot versions and the token, as at the gateway URL.
        found = await near_cache.get_many(keys)
        snapshot = await registry.get(workspace_slug, gateway_slug, found)
    if snapshot is None:
        await send_json(send, 404, {"error": f"No gateway '{workspace_slug}/{gateway_slug}'."})
        return

    detailed = await _may_use(secret, found, snapshot)
    facts = GatewayFacts(
        origin=request_origin(scope, headers),
        workspace_slug=snapshot.workspace_slug,
        slug=snapshot.slug,
        name=snapshot.name,
        description=snapshot.description,
    )
    body = json.dumps(server_cards.card(facts, detailed=detailed)).encode()
    response_headers = [
        (b"content-type", server_cards.CARD_MEDIA_TYPE.encode()),
        _PRIVATE_CACHE if secret else _PUBLIC_CACHE,
        _VARY,
        *_CORS,
    ]
    await send_empty(send, 200, b"" if method == "HEAD" else body, response_headers)


async def _may_use(secret: str | None, found: dict, snapshot: GatewaySnapshot) -> bool:
    """Whether the bearer token opens this gateway for a person provisioned to it. Any other
    token is read as none: the card then says what it says to everyone."""
    if not secret:
        return False
    principal = await principal_for(secret, found.get(cache_key(secret)))
    return (
        opens_gateway(principal, workspace_id=snapshot.workspace_id, gateway_id=snapshot.id)
        and principal.user_id in snapshot.allowed_user_ids
    )
