"""A circuit breaker per (assignment, identity), per worker: an upstream that keeps failing is
refused at once instead of making each request wait for it to fail again.

UPSTREAM_BREAKER_FAILURES failures or timeouts in a row (calls and catalog fetches alike) open
the breaker. While open, calls fail fast; after UPSTREAM_BREAKER_OPEN_SECONDS it half-opens and
lets one call through as a probe: success closes it, failure opens it for another interval. An
upstream that answers, even with a JSON-RPC error, counts as a success: it is there. Catalog
fetches are not refused (they run off the request path, with their own backoff); their failures
count, and their successes undo what failed fetches did, never what failed calls did.
"""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from dataplane.snapshot import AssignmentSpec
from identities.upstream import brokering

# Enough for every (assignment, identity) a worker serves; the least recently used go first.
_MAX_BREAKERS = 10_000


class CircuitOpen(Exception):
    """The breaker refused the request; `retry_in` says when it lets a probe through."""

    def __init__(self, failures: int, retry_in: float):
        super().__init__(f"{failures} failures in a row")
        self.failures, self.retry_in = failures, retry_in

    def describe(self, server: str) -> str:
        return (
            f"The server '{server}' is unavailable after {self.failures} failures in a row; "
            f"it will be retried in {math.ceil(self.retry_in)} s."
        )


@dataclass
class Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing_since: float | None = None
    # Whether a call failed since the last success: then only a call can prove recovery.
    calls_failed: bool = False

    def admit(self) -> None:
        """Let the request through, or raise CircuitOpen."""
        if self.opened_at is None:
            return
        interval = settings.UPSTREAM_BREAKER_OPEN_SECONDS
        now = time.monotonic()
        reopens = self.opened_at + interval
        if now < reopens:
            raise CircuitOpen(self.failures, reopens - now)
        # Half open: one probe at a time. A probe that never reported (its task was cancelled)
        # stops blocking the next one after an interval.
        if self.probing_since is not None and now - self.probing_since < interval:
            raise CircuitOpen(self.failures, self.probing_since + interval - now)
        self.probing_since = now

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing_since = 0, None, None
        self.calls_failed = False

    def reachable(self) -> None:
        """A catalog fetch answered. That proves recovery from failed fetches, not from failed
        calls: an upstream may list its tools and still fail every call."""
        if not self.calls_failed:
            self.succeeded()

    def failed(self, *, call: bool = True) -> None:
        self.failures += 1
        self.probing_since = None
        self.calls_failed = self.calls_failed or call
        if self.opened_at is not None or self.failures >= settings.UPSTREAM_BREAKER_FAILURES:
            self.opened_at = time.monotonic()

    @property
    def open(self) -> bool:
        return self.opened_at is not None


_breakers: "OrderedDict[tuple, Breaker]" = OrderedDict()


def breaker_for(spec: AssignmentSpec, identity: brokering.UpstreamIdentity) -> Breaker:
    key = (spec.id, identity.slot)
    breaker = _breakers.get(key)
    if breaker is None:
        breaker = _breakers[key] = Breaker()
        while len(_breakers) > _MAX_BREAKERS:
            _breakers.popitem(last=False)
    else:
        _breakers.move_to_end(key)
    return breaker
