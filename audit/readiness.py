"""What `/readyz` checks before a server takes traffic: the database, the cache, the channel
layer and the audit writer, each bounded in time, run together.

The database and cache checks are django-health-check's, the channel layer's ours on its base;
the audit writer's state is in memory and read fresh. Many probes at once (a load balancer per
host) share one round of service checks for `FRESH_FOR_SECONDS`, so probing never becomes load on
PostgreSQL or Redis.
"""

import asyncio
import dataclasses
import datetime
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable

from audit.log import durability
from audit.log.writer import default_recorder

logger = logging.getLogger(__name__)

FRESH_FOR_SECONDS = 1.0
_BUDGET = datetime.timedelta(seconds=2)


@dataclasses.dataclass
class ChannelLayer(HealthCheck):
    """A message sent to a fresh channel of this process comes back."""

    timeout = _BUDGET

    async def run(self):
        layer = get_channel_layer()
        if layer is None:
            raise ServiceUnavailable("no channel layer is configured")
        try:
            channel = await layer.new_channel("readyz.")
            await layer.send(channel, {"type": "readiness.probe"})
            message = await layer.receive(channel)
        except Exception as exc:  # Redis's errors are not OSErrors; any failure means not ready.
            raise ServiceUnavailable(type(exc).__name__) from exc
        if message.get("type") != "readiness.probe":
            raise ServiceUnavailable("the probe came back changed")


def audit_writer_problem() -> str | None:
    """Why the writer keeps answers back, if it does; in memory, so read fresh on every probe."""
    if not default_recorder().ready:
        return "starting: the audit writer is not ready"
    if not durability.caught_up():
        return f"behind: the audit writer is {durability.lag_seconds():.1f} s behind"
    return None


@dataclasses.dataclass
class _DatabaseCheck(Database):
    """Django's connection is blocking: it runs on a thread of its own, one at a time, so a
    database that hangs (a SQLite write lock, a PostgreSQL that stopped answering) holds one
    thread, not the pool the rest of the server needs."""

    timeout = _BUDGET

    async def run(self):
        global _database_pending
        if _database_pending is not None and not _database_pending.done():
            raise ServiceUnavailable("the previous check has not returned")
        loop = asyncio.get_running_loop()
        _database_pending = loop.run_in_executor(_database_thread, super().run)
        # A check that outlives its budget keeps running on its thread; the next probe sees it.
        await asyncio.shield(_database_pending)


_database_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-database")
_database_pending: asyncio.Future | None = None


@dataclasses.dataclass
class _CacheCheck(Cache):
    timeout = _BUDGET


# The services this process needs; their results are shared for FRESH_FOR_SECONDS.
SERVICES = (
    ("database", _DatabaseCheck()),
    ("cache", _CacheCheck(key_prefix="gatehouse:readyz")),
    ("channel layer", ChannelLayer()),
)


@dataclasses.dataclass(frozen=True)
class Readiness:
    # (name, None when it passed or the reason it did not), the audit writer first.
    results: tuple[tuple[str, str | None], ...]

    @property
    def ready(self) -> bool:
        return all(reason is None for _, reason in self.results)

    @property
    def first_failure(self) -> str | None:
        for name, reason in self.results:
            if reason is not None:
                return reason if name == "audit writer" else f"unavailable: {name}: {reason}"
        return None


_services: tuple[float, tuple[tuple[str, str | None], ...]] | None = None
_running: asyncio.Future | None = None


def _reason(result) -> str | None:
    """A reason that names no host, address or credential: the probe is public; the detail
    goes to the log (`_log_changes`)."""
    if result.error is None:
        return None
    if "Timed out" in str(result.error):
        return "timed out"
    return "does not answer"


def _detail(result) -> str:
    return getattr(result.error, "message", str(result.error))


async def _check_services() -> tuple[tuple[str, str | None], ...]:
    results = await asyncio.gather(*(check.get_result() for _, check in SERVICES))
    named = [(name, result) for (name, _), result in zip(SERVICES, results, strict=True)]
    checked = tuple((name, _reason(result)) for name, result in named)
    _log_changes(checked, {name: _detail(result) for name, result in named})
    return checked


def _log_changes(checked: tuple[tuple[str, str | None], ...], details: dict[str, str]) -> None:
    # One line when a service stops or starts answering, not one per probe.
    before = dict(_services[1]) if _services is not None else {}
    for name, reason in checked:
        if reason is not None and before.get(name) is None:
            logger.warning("readiness: %s does not answer: %s", name, details[name])
        elif reason is None and before.get(name) is not None:
            logger.warning("readiness: %s answers again", name)


async def readiness() -> Readiness:
    """This process's readiness; concurrent probes share one run of the service checks."""
    global _services, _running
    if _services is None or time.monotonic() - _services[0] >= FRESH_FOR_SECONDS:
        if _running is None or _running.done():
            _running = asyncio.ensure_future(_check_services())
        checked = await asyncio.shield(_running)
        _services = (time.monotonic(), checked)
    writer = ("audit writer", audit_writer_problem())
    return Readiness(results=(writer, *_services[1]))
