"""Latency percentiles from a histogram the database builds, the same on SQLite and PostgreSQL.

SQLite has no percentile function, so rather than one code path per database, calls are grouped
into logarithmic latency bins (`BINS_PER_E` per factor of e, each about 9% wide) alongside
whatever else a query groups by, with each bin's count and latency sum. A percentile is then
read off the cumulated bins by the nearest-rank method and reported as the mean latency of the
bin it falls in: exact when a bin holds one distinct value, and otherwise within 9% of the true
value, whatever the number of calls (the rows read are bounded by the bins, not the traffic).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, F, FloatField, Value, When
from django.db.models.functions import Floor, Ln

BINS_PER_E = 12
FASTEST_MS = 0.01  # latencies at or below it share the first bin; ln(0) is undefined
_FIRST_BIN = math.floor(math.log(FASTEST_MS) * BINS_PER_E)


def latency_bin():
    """The bin of an entry's `latency_ms` as a database expression; NULL without a latency."""
    return Case(
        When(latency_ms__gt=FASTEST_MS, then=Floor(Ln(F("latency_ms")) * BINS_PER_E)),
        When(latency_ms__isnull=False, then=Value(float(_FIRST_BIN))),
        default=None,
        output_field=FloatField(),
    )


@dataclass
class Histogram:
    """Calls and summed latency per bin; add rows of a grouped query, then read percentiles."""

    bins: dict[int, list[float]] = field(default_factory=dict)  # bin -> [count, sum of ms]

    def add(self, bin_value, count: int, total_ms) -> None:
        if bin_value is None or not count:
            return
        slot = self.bins.setdefault(int(bin_value), [0, 0.0])
        slot[0] += count
        slot[1] += total_ms or 0.0

    def merge(self, other: "Histogram") -> None:
        for key, (n, total_ms) in other.bins.items():
            self.add(key, n, total_ms)

    @property
    def count(self) -> int:
        return int(sum(n for n, _ in self.bins.values()))

    def percentile(self, pct: float) -> float | None:
        """Nearest-rank percentile, as the mean latency of its bin; None without latencies."""
        total = self.count
        if not total:
            return None
        rank = max(1, math.ceil(pct / 100 * total))
        seen = 0
        for key in sorted(self.bins):
            n, total_ms = self.bins[key]
            seen += n
            if seen >= rank:
                break
        return round(total_ms / n, 3)


def histogram_of(rows: Iterable[dict]) -> Histogram:
    """A histogram of rows grouped by `bin`, each with `n` and `total_ms`."""
    histogram = Histogram()
    for row in rows:
        histogram.add(row["bin"], row["n"], row["total_ms"])
    return histogram
