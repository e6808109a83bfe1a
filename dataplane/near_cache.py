"""A process-local copy of the shared-cache keys read before a request starts (the snapshot
versions, token lookups, ended sessions, people's upstream credentials), so that on Redis a
request usually starts without a round trip.

Redis itself says when a copy is stale: one connection per event loop turns on client-side
caching in broadcasting mode (`CLIENT TRACKING ... BCAST PREFIX`) for the prefixes below, and
Redis sends it the name of every key under them that changes, whoever changes it (a service
revoking a token, a worker ending a session, an expiry, a flush). The copy of that key is
dropped. No writer has to remember to announce its writes.

Staleness is bounded three ways: a copy is served for at most `NEAR_CACHE_SECONDS`; nothing is
served or kept while the listener is not connected, and each connection starts from empty; a
read that overlapped an invalidation is not kept. A lost message is worth at most the max age.

The listener outlives any failure of Redis: a read that times out (the set-up's included: a
Redis that accepts the connection and never answers) or loses its connection is counted
(`gatehouse_near_cache_listener_failures`), logged as one warning line, and followed by a pause
that doubles up to `RETRY_MAX_SECONDS` before it connects again.

A near cache lives as long as its event loop, and its listener's task holds the loop: the next
near cache made forgets the closed loops, so they can be freed. A loop closed without cancelling
its tasks leaves its listener pending and connected, which it can never run again: the next
listener has Redis close that connection.
"""

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError, ResponseError

from audit import metrics
from core import cache_reads

logger = logging.getLogger(__name__)

# The keys the data plane reads before and during a request (config_events, tokens, session,
# identities.selectors); a key under none of them is read from Redis every time.
PREFIXES = ("gw:v:", "ws:epoch:", "tok:", "mcp:ended:", "upcred:", "upconn:")
MAX_ENTRIES = 10_000
CHANNEL = "__redis__:invalidate"
CLIENT_NAME = "gatehouse-near-cache"
HEARTBEAT_SECONDS = 5.0
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


class NearCache:
    """The copies one event loop holds: made key -> (when read, stored bytes or None for
    absent). Insertion order is age order, so the oldest are at the front."""

    def __init__(self, backend, prefixes: tuple[str, ...], max_age: float):
        self.backend = backend
        self.prefixes = prefixes  # made by the backend: what Redis reports
        self.max_age = max_age
        self.live = False  # tracking is on and this loop listens
        self.generation = 0  # moves on every invalidation, so a read across one is not kept
        self._entries: dict[str, tuple[float, bytes | None]] = {}
        self.listener: asyncio.Task | None = None
        self.client_id: int | None = None  # the listener's connection's, while it is connected
        # The connections of listeners whose loop was closed, for this listener to close.
        self.abandoned: list[int] = []

    def lookup(self, made_keys: list[str]) -> list | None:
        """The stored bytes of every key if all are held and young enough, else None."""
        if not self.live:
            return None
        oldest = time.monotonic() - self.max_age
        values = []
        for key in made_keys:
            held = self._entries.get(key)
            if held is None or held[0] < oldest:
                return None
            values.append(held[1])
        return values

    def keep(self, made_keys: list[str], raw: list, generation: int) -> None:
        if not self.live or generation != self.generation:
            return
        now = time.monotonic()
        entries = self._entries
        for key, value in zip(made_keys, raw, strict=True):
            if key.startswith(self.prefixes):
                entries.pop(key, None)
                entries[key] = (now, value)
        oldest = now - self.max_age
        while entries:
            first = next(iter(entries))
            if len(entries) <= MAX_ENTRIES and entries[first][0] >= oldest:
                break
            del entries[first]

    def drop(self, made_keys) -> None:
        self.generation += 1
        for key in made_keys:
            self._entries.pop(key, None)

    def reset(self, *, live: bool) -> None:
        self.generation += 1
        self._entries.clear()
        self.live = live

    def __len__(self) -> int:
        return len(self._entries)


_caches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NearCache]" = (
    weakref.WeakKeyDictionary()
)
# Listeners still pending in loops closed under them (`_forget_closed_loops`).
_stranded: list[asyncio.Task] = []


def _prefixes(backend) -> tuple[str, ...] | None:
    """The prefixes as stored, or None if the cache's key function does not keep prefixes."""
    made = tuple(backend.make_key(prefix) for prefix in PREFIXES)
    for prefix, stored in zip(PREFIXES, made, strict=True):
        if backend.make_key(prefix + "x") != stored + "x":
            return None
    return made


def _near_cache() -> tuple[object, NearCache | None]:
    """The Redis backend (None for in-process caches) and this loop's near cache (None when
    turned off)."""
    backend = cache_reads.redis_backend()
    if backend is None or settings.NEAR_CACHE_SECONDS <= 0:
        return backend, None
    loop = asyncio.get_running_loop()
    near = _caches.get(loop)
    if near is None or near.backend is not backend:
        if near is not None and near.listener is not None:
            near.listener.cancel()
        prefixes = _prefixes(backend)
        if prefixes is None:
            return backend, None
        abandoned = _forget_closed_loops()
        near = NearCache(backend, prefixes, settings.NEAR_CACHE_SECONDS)
        near.abandoned = abandoned
        _caches[loop] = near
    if near.listener is None or near.listener.done():
        # Its own context: it outlives the request that started it, whose correlation id must
        # not name its log lines.
        near.listener = loop.create_task(_listen(near), context=contextvars.Context())
    return backend, near


def _forget_closed_loops() -> list[int]:
    """Drop the near caches of closed event loops, so that the loops can be freed (those closed
    after cancelling their tasks, as `asyncio.run` does); returns the Redis client ids of their
    listeners still connected (their loop was closed under them), for a live one to close."""
    try:
        held = list(_caches.items())
    except RuntimeError:  # another thread's loop came or went meanwhile: the next one sweeps
        return []
    abandoned = []
    for loop, near in held:
        if loop.is_closed():
            _caches.pop(loop, None)
            if near.listener is not None and not near.listener.done():
                # Freed, its coroutine would be closed by the garbage collector, running the
                # Redis client's clean-up code under whichever loop runs then: it is kept, and
                # only its connection goes.
                _stranded.append(near.listener)
            if near.client_id is not None:
                abandoned.append(near.client_id)
            abandoned.extend(near.abandoned)
    return abandoned


async def get_many(keys: list[str]) -> dict:
    """`core.cache_reads.get_many`, served from this process's copies when it can."""
    if not keys:
        return {}
    backend, near = _near_cache()
    if near is None:
        return await cache_reads.get_many(keys)
    made = [backend.make_key(key) for key in keys]
    raw = near.lookup(made)
    if raw is not None:
        # An invalidation this process has already received is applied before a copy is served.
        await asyncio.sleep(0)
        raw = near.lookup(made)
    if raw is None:
        generation = near.generation
        raw = await cache_reads.get_raw(backend, made)
        near.keep(made, raw, generation)
    return cache_reads.decoded(backend, keys, raw)


async def _listen(near: NearCache) -> None:
    pause = RETRY_FIRST_SECONDS
    while True:
        connection = None
        try:
            connection = _connection(near.backend)
            await _set_up(connection, near)
            near.reset(live=True)
            pause = RETRY_FIRST_SECONDS
            await _follow(connection, near)
        except (RedisError, OSError) as failure:
            # A Redis timeout or lost connection: expected now and then, and survived.
            metrics.near_cache_listener_failed(failure)
            logger.warning(
                "near cache: the Redis listener failed (%s: %s); serving from Redis and"
                " listening again in %.1f s",
                type(failure).__name__,
                failure,
                pause,
            )
        except Exception as failure:
            metrics.near_cache_listener_failed(failure)
            logger.exception("near cache: the Redis listener failed; listening again")
        finally:
            # Whatever changed meanwhile went unheard: nothing held is trusted any more.
            near.reset(live=False)
            near.client_id = None
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.disconnect()
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_MAX_SECONDS)


def _connection(backend):
    # RESP2: invalidations then arrive as ordinary pub/sub messages on this same connection.
    pool = aioredis.ConnectionPool.from_url(
        cache_reads.writer_url(backend),
        protocol=2,
        client_name=CLIENT_NAME,
        socket_connect_timeout=HEARTBEAT_SECONDS,
        # Each wait is bounded here instead (`_set_up`, `_follow`): with a socket timeout the
        # client sends through `asyncio.wait_for`, which on Python 3.11 can swallow the
        # cancellation that stops the listener (its loop's shutdown would then wait forever).
        socket_timeout=None,
    )
    return pool.make_connection()


async def _set_up(connection, near: NearCache) -> None:
    """Connect and turn tracking on; a Redis that accepts the connection and never answers
    must not hold the listener forever."""
    try:
        async with asyncio.timeout(HEARTBEAT_SECONDS):
            await connection.connect()
            await _track(connection, near)
    except TimeoutError as timeout:
        raise TimeoutError(f"Redis did not answer within {HEARTBEAT_SECONDS} s") from timeout


async def _track(connection, near: NearCache) -> None:
    await connection.send_command("CLIENT", "ID")
    client_id = await connection.read_response()
    # Listeners of closed loops: their connections still hear every invalidation, unread.
    while near.abandoned:
        await connection.send_command("CLIENT", "KILL", "ID", near.abandoned[-1])
        with contextlib.suppress(ResponseError):  # not allowed (an ACL): it goes with the process
            await connection.read_response()
        near.abandoned.pop()
    command = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
    for prefix in near.prefixes:
        command += ["PREFIX", prefix]
    await connection.send_command(*command)
    await connection.read_response()
    await connection.send_command("SUBSCRIBE", CHANNEL)
    await connection.read_response()
    near.client_id = client_id


async def _follow(connection, near: NearCache) -> None:
    """Drop what Redis reports changed; a connection quiet through a PING is taken as lost."""
    pinged = False
    while True:
        message = await connection.read_response(timeout=HEARTBEAT_SECONDS)
        if message is None:
            if pinged:
                raise TimeoutError("Redis did not answer a PING")
            await connection.send_command("PING")
            pinged = True
            continue
        pinged = False
        if isinstance(message, list) and len(message) == 3 and message[0] == b"message":
            keys = message[2]
            if keys is None:  # a flush: everything changed
                near.reset(live=True)
            else:
                near.drop(key.decode("utf-8", "replace") for key in keys)


async def close() -> None:
    near = _caches.pop(asyncio.get_running_loop(), None)
    if near is not None and near.listener is not None:
        near.listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await near.listener
