"""How long the rules of one call may take, and where their heavy scans run.

Every pattern an admin writes runs on RE2 (rules/patterns.py), so a scan costs time linear in
the payload; the budget (`RULES_CALL_BUDGET_MS`) bounds the sum anyway, so that one call's rules
cannot hold a worker, and a call whose rules overrun it is refused (fail closed) rather than let
through half-checked. Webhooks are not counted: each has its own `timeout_ms`. The budget is
checked after each rule and, through `check`, inside the loops of a scan that finds many
matches; a payload large enough for a scan to take a while is scanned in a worker thread (RE2
releases the GIL while it matches), so the event loop goes on serving the worker's other calls.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

# Below this much text a scan takes well under a millisecond: less than the hop to a thread.
OFFLOAD_CHARS = 16 * 1024
# Scans are CPU work: a few threads keep large payloads off the loop without a thread each.
_SCANS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rules-scan")
# When the scan running in this context must stop (`perf_counter` time).
_DEADLINE: ContextVar[float] = ContextVar("rules_deadline", default=math.inf)


class Exhausted(Exception):
    """Raised inside a scan that outran the call's budget."""


def overrun() -> bool:
    """Whether the running scan is past the call's budget."""
    return time.perf_counter() > _DEADLINE.get()


def check() -> None:
    """Stop the running scan if the call's budget is spent: called now and then by detector
    loops that run once per match, which a payload dense with matches makes long."""
    if time.perf_counter() > _DEADLINE.get():
        raise Exhausted


class Budget:
    """The time the rules of one call have spent, without the time spent awaiting webhooks."""

    __slots__ = ("limit", "_started", "_waited")

    def __init__(self, limit_ms: float | None):
        self.limit = limit_ms / 1000 if limit_ms else None
        self._started = time.perf_counter()
        self._waited = 0.0

    def spent(self) -> float:
        return time.perf_counter() - self._started - self._waited

    def exceeded(self) -> bool:
        return self.limit is not None and self.spent() > self.limit

    def deadline(self) -> float:
        if self.limit is None:
            return math.inf
        return self._started + self._waited + self.limit

    async def wait(self, awaitable):
        """Await a webhook: its own timeout bounds it, so its time is not the budget's."""
        started = time.perf_counter()
        try:
            return await awaitable
        finally:
            self._waited += time.perf_counter() - started


def _bounded(deadline: float, work, args):
    token = _DEADLINE.set(deadline)
    try:
        return work(*args)
    finally:
        _DEADLINE.reset(token)


async def scan(budget: Budget, size: int, work, *args):
    """`work(*args)` within the budget (`Exhausted` when it runs out), in a worker thread when
    the text it scans is `size` characters or more."""
    if size < OFFLOAD_CHARS:
        return _bounded(budget.deadline(), work, args)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_SCANS, _bounded, budget.deadline(), work, args)
