"""The 2026-07-28 caching hints (`ttlMs`, `cacheScope`) on the results whose schema requires them.

The gateway's lists carry its own (`dataplane/routing.py`); a routed result the upstream answered
keeps the upstream's hints when it gave valid ones, else gets the conservative defaults the SDK
uses too: immediately stale and private, since what the gateway answers depends on its caller
(their identity upstream, their team's rules).
"""

DEFAULT_TTL_MS = 0
DEFAULT_SCOPE = "private"
SCOPES = ("public", "private")


def with_hints(result: dict) -> dict:
    """The result, with valid `ttlMs` and `cacheScope` (the upstream's, or the defaults)."""
    ttl = result.get("ttlMs")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        ttl = DEFAULT_TTL_MS
    scope = result.get("cacheScope")
    if scope not in SCOPES:
        scope = DEFAULT_SCOPE
    return dict(result, ttlMs=ttl, cacheScope=scope)
