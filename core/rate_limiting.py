"""Rate limits: parsing a rate, the counters' storage, and who the client is.

Counters live where the cache lives: Redis in production (several workers share one count), the
process's memory embedded. The data plane counts with the async API (`limits.aio`) and the
control plane with the sync one; both share RATE_LIMIT_STRATEGY and the key prefix.

The client's address is the socket's peer, unless that peer is a proxy listed in
TRUSTED_PROXIES: then it is the right-most address of X-Forwarded-For that is not itself a
trusted proxy, so a client cannot pick its own address by sending the header.
"""

import asyncio
import contextvars
import ipaddress
import math
import time
import weakref
from dataclasses import dataclass
from functools import cache

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_STRATEGIES = {
    "fixed-window": (
        limits.strategies.FixedWindowRateLimiter,
        limits.aio.strategies.FixedWindowRateLimiter,
    ),
    "moving-window": (
        limits.strategies.MovingWindowRateLimiter,
        limits.aio.strategies.MovingWindowRateLimiter,
    ),
    "sliding-window-counter": (
        limits.strategies.SlidingWindowCounterRateLimiter,
        limits.aio.strategies.SlidingWindowCounterRateLimiter,
    ),
}


class InvalidRate(ValueError):
    pass


def parse_rate(text) -> limits.RateLimitItem:
    """`"60/minute"`, `"10 per second"`; anything else is an InvalidRate that says what to write."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRate("A rate is a string such as '60/minute' or '1000/hour'.")
    try:
        items = limits.parse_many(text)
    except ValueError as exc:
        raise InvalidRate(
            f"'{text}' is not a rate: write N/second, N/minute, N/hour or N/day "
            "(for example '60/minute')."
        ) from exc
    if len(items) != 1:
        raise InvalidRate(f"'{text}' names {len(items)} rates: write one rate per limit.")
    item = items[0]
    if item.amount < 1:
        raise InvalidRate(f"'{text}' allows nothing: a rate needs at least 1 call.")
    return item


def _storage_url() -> tuple[str, dict]:
    url = settings.RATE_LIMIT_STORAGE_URL
    if url.startswith("redis"):
        # Instances sharing a Redis keep their counts apart, as their caches are.
        return url, {"key_prefix": settings.RATE_LIMIT_KEY_PREFIX}
    return url, {}


@cache
def limiter() -> limits.strategies.RateLimiter:
    url, options = _storage_url()
    storage = limits.storage.storage_from_string(url, **options)
    return _STRATEGIES[settings.RATE_LIMIT_STRATEGY][0](storage)


# The async Redis client belongs to the event loop it was made on; memory is one per process.
_redis_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_limiter() -> limits.aio.strategies.RateLimiter:
    url, options = _storage_url()
    if not options:
        return _memory_limiter()
    loop = asyncio.get_running_loop()
    found = _redis_limiters.get(loop)
    if found is None:
        # redis-py is installed already (the cache and channel layer use it); not coredis.
        storage = limits.storage.storage_from_string(
            f"async+{url}", implementation="redispy", **options
        )
        found = _redis_limiters[loop] = _STRATEGIES[settings.RATE_LIMIT_STRATEGY][1](storage)
    return found


@cache
def _memory_limiter() -> limits.aio.strategies.RateLimiter:
    storage = limits.storage.storage_from_string(f"async+{settings.RATE_LIMIT_STORAGE_URL}")
    return _STRATEGIES[settings.RATE_LIMIT_STRATEGY][1](storage)


@receiver(setting_changed)
def _forget_limiters(*, setting, **_kwargs) -> None:
    if setting.startswith("RATE_LIMIT_"):
        limiter.cache_clear()
        _memory_limiter.cache_clear()
        _redis_limiters.clear()


def reset() -> None:
    """Forget every count (tests start from zero); Redis keys go with the sync reset."""
    limiter().storage.reset()
    if not settings.RATE_LIMIT_STORAGE_URL.startswith("redis"):
        _memory_limiter.cache_clear()


@dataclass(frozen=True)
class Refusal:
    """A limit that refused a request, and how long until it admits one again."""

    rate: str
    retry_after: int


def _retry_after(reset_at: float) -> int:
    return max(1, math.ceil(reset_at - time.time()))


@cache
def _item(rate: str) -> limits.RateLimitItem:
    # Settings name a few rates, counted on every request: each is parsed once.
    return parse_rate(rate)


def hit(rate: str, *identifiers: str) -> Refusal | None:
    """Count one request against `rate` for `identifiers`; the refusal when it is over."""
    item = _item(rate)
    if limiter().hit(item, *identifiers):
        return None
    reset_at, _remaining = limiter().get_window_stats(item, *identifiers)
    return Refusal(rate=rate, retry_after=_retry_after(reset_at))


def over(rate: str, *identifiers: str) -> Refusal | None:
    """The refusal if `rate` is used up for `identifiers`, without counting a request."""
    item = _item(rate)
    if limiter().test(item, *identifiers):
        return None
    reset_at, _remaining = limiter().get_window_stats(item, *identifiers)
    return Refusal(rate=rate, retry_after=_retry_after(reset_at))


async def ahit(item: limits.RateLimitItem, *identifiers: str) -> int | None:
    """Count one request (async); the seconds to wait when `item` refuses it, else None."""
    limiter = async_limiter()
    if await limiter.hit(item, *identifiers):
        return None
    reset_at, _remaining = await limiter.get_window_stats(item, *identifiers)
    return _retry_after(reset_at)


# -- who the client is ---------------------------------------------------------------------------


@cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(peer: str | None, forwarded_for: str | None) -> str:
    """The client's address: the peer, or what trusted proxies in front of us say it was."""
    address = (peer or "").strip()
    if not forwarded_for or not _trusted(address):
        return address or "unknown"
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
        address = hop
    return address


def request_ip(request) -> str:
    """The client address of a Django request."""
    return client_ip(request.META.get("REMOTE_ADDR"), request.headers.get("x-forwarded-for"))


def scope_ip(scope, headers: dict) -> str:
    """The client address of an ASGI scope (`headers` lower-cased)."""
    peer = (scope.get("client") or (None,))[0]
    return client_ip(peer, headers.get("x-forwarded-for"))


# The address of the request being served, for work deep below its view that is counted
# against the caller (the client metadata fetch); set by the view's per-address limit.
current_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rate_limited_ip", default=None
)
