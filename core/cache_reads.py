"""Reading the shared cache from the request path in one step and without a thread hop.

Django's async cache methods run the sync ones in a worker thread, one hop per key. The data
plane reads a handful of keys per request, so it reads them together: in-process caches
directly (a dict lookup never blocks), Redis with one MGET on an asyncio client.
"""

import asyncio
import weakref

import redis.asyncio as aioredis
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
    weakref.WeakKeyDictionary()
)


_backend: BaseCache | None = None


def _default_backend() -> BaseCache:
    """One backend object for the process. `caches[...]` keeps one per asyncio context, so
    every request task would build its own; both backends read shared state (a module-level
    store for the in-process cache, the server for Redis), so one object serves every task."""
    global _backend
    if _backend is None:
        backend = caches.create_connection(DEFAULT_CACHE_ALIAS)
        # The keys read here are the data plane's own (short, ASCII): skip Django's check of
        # every character for memcached's sake, which cost more than the read itself.
        backend.make_and_validate_key = backend.make_key
        _backend = backend
    return _backend


@receiver(setting_changed)
def _forget_backend(*, setting, **_kwargs) -> None:
    global _backend
    if setting == "CACHES":
        _backend = None


def writer_url(backend: RedisCache) -> str:
    return backend._servers[0]  # the first server is the writer


def _redis(backend: RedisCache) -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        _forget_closed_loops()
        client = aioredis.from_url(writer_url(backend))
        _clients[loop] = client
    return client


def _forget_closed_loops() -> None:
    """Drop the clients of closed event loops: their connections hold the loop, so the entries
    would never go by themselves (their sockets close as they are freed)."""
    try:
        held = list(_clients)
    except RuntimeError:  # another thread's loop came or went meanwhile: the next one sweeps
        return
    for loop in held:
        if loop.is_closed():
            _clients.pop(loop, None)


def redis_backend() -> RedisCache | None:
    """The shared cache when it is Redis: the one a process-local copy saves round trips to."""
    backend = _default_backend()
    return backend if isinstance(backend, RedisCache) else None


async def get_raw(backend: RedisCache, made_keys: list[str]) -> list[bytes | None]:
    """The stored bytes of keys already made by `backend.make_key`, in one MGET."""
    return await _redis(backend).mget(made_keys)


def decoded(backend: RedisCache, keys: list[str], raw: list[bytes | None]) -> dict:
    loads = backend._cache._serializer.loads
    return {key: loads(value) for key, value in zip(keys, raw, strict=True) if value is not None}


async def get_many(keys: list[str]) -> dict:
    if not keys:
        return {}
    backend = _default_backend()
    if isinstance(backend, LocMemCache):
        return backend.get_many(keys)
    if isinstance(backend, RedisCache):
        made = [backend.make_key(key) for key in keys]
        return decoded(backend, keys, await get_raw(backend, made))
    return await backend.aget_many(keys)


async def close() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
