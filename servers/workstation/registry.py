"""Which connector serves a workstation server for whom, in the shared cache.

One entry per (server, owner): the owner is the person's user id for a personal server, "shared"
for a shared one. The value names the connector's consumer channel, so any worker can send to
it over the channel layer. Entries live three heartbeats and are refreshed on each; a connector
that vanishes without a goodbye drops out on its own. A per-server index (read-modify-write, so
only an approximation under races) tells the health check whether anyone serves the server.
"""

import time

from django.conf import settings
from django.core.cache import cache

SHARED = "shared"


def owner_of(scope: str, user_id: int | None) -> str:
    """Whose connector serves a call: the caller's for a personal server, anyone's for shared."""
    return SHARED if scope == SHARED else str(user_id)


def _ttl() -> float:
    # Redis keeps whole seconds: a time to live under one would expire the entry at once.
    return max(2.0, 3 * settings.WORKSTATION_HEARTBEAT_SECONDS)


def _key(server_id: int, owner: str) -> str:
    return f"wsconn:{server_id}:{owner}"


def _index_key(server_id: int) -> str:
    return f"wsconn:{server_id}"


async def lookup(server_id: int, owner: str) -> dict | None:
    """The entry `{"channel", "connector", "host"}` of the connector serving this, or None."""
    entry = await cache.aget(_key(server_id, owner))
    return entry if isinstance(entry, dict) else None


async def register(server_id: int, owner: str, entry: dict) -> dict | None:
    """Name `entry`'s connector as the one serving; returns the entry it replaced (another
    channel's), if any. Also refreshes the entry's time to live."""
    key = _key(server_id, owner)
    previous = await cache.aget(key)
    await cache.aset(key, entry, _ttl())
    index = await cache.aget(_index_key(server_id)) or {}
    index[owner] = (entry["channel"], time.time() + _ttl())
    await cache.aset(_index_key(server_id), index, None)
    if isinstance(previous, dict) and previous.get("channel") != entry["channel"]:
        return previous
    return None


async def unregister(server_id: int, owner: str, channel: str) -> None:
    """Remove the entry only if it still names `channel`: a newer connector keeps its own."""
    key = _key(server_id, owner)
    current = await cache.aget(key)
    if isinstance(current, dict) and current.get("channel") == channel:
        await cache.adelete(key)
    index = await cache.aget(_index_key(server_id)) or {}
    if index.get(owner, ("",))[0] == channel:
        index.pop(owner)
        await cache.aset(_index_key(server_id), index, None)


def served(server_id: int) -> bool:
    """Whether some connector serves the server now (sync; for the health check)."""
    index = cache.get(_index_key(server_id)) or {}
    now = time.time()
    return any(expires > now for _channel, expires in index.values())
