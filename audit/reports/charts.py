"""Activity of one gateway for the charts of its console page, aggregated in the database.

A call is a `client.response` entry of a `tools/call`: every call writes exactly one, with the
outcome the client saw (ok, error, blocked) and the end-to-end latency. Four queries, whatever
the traffic: calls per bucket and outcome, a latency sample, the top tools, the top people.
They use only ORM aggregates (`Trunc`, `Count`), so they run on SQLite and PostgreSQL alike.

Latency percentiles are computed in Python, by the nearest-rank method, over the latencies of
the newest `LATENCY_SAMPLE` calls of the window: exact for windows with fewer calls, and a
bounded read (one float per row) for busy ones, where the newest calls are the ones an operator
asks about. Percentile functions differ between databases (SQLite has none), hence the sample.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone

from audit.log.selectors import entries_of
from audit.models import Hop, Outcome

# window key -> (label, bucket kind for Trunc, bucket length, number of buckets)
WINDOWS = {
    "24h": ("24 hours", "hour", timedelta(hours=1), 24),
    "7d": ("7 days", "day", timedelta(days=1), 7),
    "30d": ("30 days", "day", timedelta(days=1), 30),
}
DEFAULT_WINDOW = "24h"
LATENCY_SAMPLE = 10_000
TOP = 5


@dataclass(frozen=True)
class Bucket:
    start: datetime
    ok: int
    error: int
    blocked: int
    scale: int  # the largest bucket's total, so bars share one axis

    @property
    def total(self) -> int:
        return self.ok + self.error + self.blocked

    def _pct(self, n: int) -> float:
        return round(100 * n / self.scale, 1) if self.scale else 0.0

    @property
    def ok_pct(self) -> float:
        return self._pct(self.ok)

    @property
    def error_pct(self) -> float:
        return self._pct(self.error)

    @property
    def blocked_pct(self) -> float:
        return self._pct(self.blocked)


@dataclass(frozen=True)
class Ranked:
    name: str
    count: int
    pct: float


@dataclass(frozen=True)
class GatewayActivity:
    window: str
    label: str
    hourly: bool
    buckets: list[Bucket]
    calls: int
    errors: int
    blocked: int
    p50_ms: float | None
    p95_ms: float | None
    sampled: int
    top_tools: list[Ranked]
    top_people: list[Ranked]


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of ascending values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ranked(rows, key: str) -> list[Ranked]:
    rows = list(rows)
    top = rows[0]["n"] if rows else 0
    return [Ranked(row[key], row["n"], round(100 * row["n"] / top, 1)) for row in rows]


def gateway_activity(
    workspace, *, gateway_id: int, gateway_slug: str, window: str = DEFAULT_WINDOW, now=None
) -> GatewayActivity:
    """Calls of one gateway over `window` (a key of WINDOWS; unknown keys mean the default).

    Entries are matched on the gateway's id and slug together: the slug uses the log's index,
    and the id keeps a deleted gateway's history off a new gateway that reuses its slug.
    """
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    label, kind, step, count = WINDOWS[window]
    now = now or timezone.now()
    last = now.replace(minute=0, second=0, microsecond=0)
    if kind == "day":
        last = last.replace(hour=0)
    starts = [last - step * i for i in reversed(range(count))]
    calls = entries_of(workspace).filter(
        gateway_slug=gateway_slug,
        gateway_id=gateway_id,
        hop=Hop.CLIENT_RESPONSE,
        rpc_method="tools/call",
        at__gte=starts[0],
    )

    per_bucket: dict[datetime, dict[str, int]] = {}
    rows = (
        calls.annotate(bucket=Trunc("at", kind))
        .values("bucket", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        per_bucket.setdefault(row["bucket"], {})[row["outcome"]] = row["n"]
    counts = [per_bucket.get(start, {}) for start in starts]
    scale = max((sum(c.values()) for c in counts), default=0)
    buckets = [
        Bucket(
            start=start,
            ok=c.get(Outcome.OK, 0),
            error=c.get(Outcome.ERROR, 0),
            blocked=c.get(Outcome.BLOCKED, 0),
            scale=scale,
        )
        for start, c in zip(starts, counts, strict=True)
    ]

    sample = sorted(
        calls.exclude(latency_ms=None)
        .order_by("-at")
        .values_list("latency_ms", flat=True)[:LATENCY_SAMPLE]
    )
    tools = calls.exclude(tool="").values("tool").annotate(n=Count("id")).order_by("-n", "tool")
    people = (
        calls.exclude(user_email="")
        .values("user_email")
        .annotate(n=Count("id"))
        .order_by("-n", "user_email")
    )
    return GatewayActivity(
        window=window,
        label=label,
        hourly=kind == "hour",
        buckets=buckets,
        calls=sum(b.total for b in buckets),
        errors=sum(b.error for b in buckets),
        blocked=sum(b.blocked for b in buckets),
        p50_ms=percentile(sample, 50),
        p95_ms=percentile(sample, 95),
        sampled=len(sample),
        top_tools=_ranked(tools[:TOP], "tool"),
        top_people=_ranked(people[:TOP], "user_email"),
    )
