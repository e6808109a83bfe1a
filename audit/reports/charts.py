"""The geometry of the console's charts, drawn by templates as inline SVG (templates/audit/).

Charts are drawn on the server, so they show without JavaScript, a CDN or a network; each is an
SVG in a fixed coordinate space (`viewBox`) that the page scales to its column, with a title and
a description for screen readers and a `<title>` per bar or point for the exact numbers. Three
kinds: stacked columns over time (calls by outcome), lines over time (latency percentiles),
and horizontal bars (a ranking). The numbers come from `audit.reports.activity`.
"""

import math
from dataclasses import dataclass

from audit.reports.activity import Activity, Bucket
from audit.reports.rankings import Ranked

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 12, 26
MAX_X_LABELS = 8
RANK_ROW, RANK_LABEL, RANK_GAP, RANK_COUNT, RANK_NAME_CHARS = 28, 200, 8, 56, 24


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Rect:
    kind: str  # the CSS class: ok, error, blocked
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Column:
    title: str
    rects: list[Rect]


@dataclass(frozen=True)
class AxisLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    kind: str  # the CSS class and the name: p50, p95
    segments: list[str]  # `points` of each polyline; a bucket without calls breaks the line
    points: list[Point]


@dataclass(frozen=True)
class Frame:
    """The drawing area and its value axis, shared by the charts over time."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    ticks: list[Tick]


@dataclass(frozen=True)
class ColumnChart:
    frame: Frame
    columns: list[Column]
    labels: list[AxisLabel]


@dataclass(frozen=True)
class LineChart:
    frame: Frame
    lines: list[Line]
    labels: list[AxisLabel]


@dataclass(frozen=True)
class RankBar:
    name: str
    short_name: str
    count: int
    y: float
    width: float


@dataclass(frozen=True)
class RankChart:
    width: int
    height: int
    label_width: int
    bar_width: int
    rows: list[RankBar]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _frame(top_value: float, unit: str, *, whole: bool = False) -> tuple[Frame, float]:
    """The frame and the axis' top value; `whole` axes (counts) get no tick between integers."""
    ceiling = nice_ceiling(top_value)
    plot_height = HEIGHT - TOP - BOTTOM
    ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * share, 1), f"{ceiling * share:g}{unit}")
        for share in (0, 0.5, 1)
        if not whole or float(ceiling * share).is_integer()
    ]
    return Frame(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM, ticks), ceiling


def _y(frame: Frame, value: float, ceiling: float) -> float:
    return round(frame.bottom - (frame.bottom - frame.top) * value / ceiling, 1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _when(activity: Activity, start) -> str:
    return f"{start:%H:%M}" if activity.hourly else f"{start:%b} {start.day}"


@dataclass(frozen=True)
class _Slot:
    """A bucket's share of the time axis."""

    bucket: Bucket
    x: float
    width: float

    @property
    def middle(self) -> float:
        return round(self.x + self.width / 2, 1)


def _slots(activity: Activity) -> list[_Slot]:
    width = (WIDTH - LEFT - RIGHT) / len(activity.buckets)
    return [_Slot(b, LEFT + i * width, width) for i, b in enumerate(activity.buckets)]


def _axis_labels(activity: Activity, slots: list[_Slot]) -> list[AxisLabel]:
    """At most MAX_X_LABELS labels, evenly spaced, so they do not collide."""
    every = math.ceil(len(slots) / MAX_X_LABELS)
    return [AxisLabel(s.middle, _when(activity, s.bucket.start)) for s in slots[::every]]


def calls_chart(activity: Activity) -> ColumnChart:
    """A column per time bucket: ok, errors and blocked calls stacked from the axis up."""
    frame, ceiling = _frame(max((b.total for b in activity.buckets), default=0), "", whole=True)
    slots = _slots(activity)
    columns = []
    for slot in slots:
        bucket, rects, base = slot.bucket, [], frame.bottom
        stack = (("ok", bucket.ok), ("error", bucket.error), ("blocked", bucket.blocked))
        for kind, value in stack:
            if value:
                height = (frame.bottom - frame.top) * value / ceiling
                base -= height
                x, width = round(slot.x + slot.width * 0.1, 1), round(slot.width * 0.8, 1)
                rects.append(Rect(kind, x, round(base, 1), width, round(height, 1)))
        title = (
            f"{_when(activity, bucket.start)}: {_count(bucket.total, 'call')}, "
            f"{_count(bucket.error, 'error')}, {bucket.blocked} blocked"
        )
        columns.append(Column(title, rects))
    return ColumnChart(frame, columns, _axis_labels(activity, slots))


def latency_chart(activity: Activity) -> LineChart:
    """p50 and p95 latency per time bucket, as two lines broken where there were no calls."""
    top = max((b.p95_ms or 0 for b in activity.buckets), default=0)
    frame, ceiling = _frame(top, " ms")
    slots = _slots(activity)
    lines = []
    for kind in ("p50", "p95"):
        segments, current, points = [], [], []
        for slot in slots:
            value = getattr(slot.bucket, f"{kind}_ms")
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            when = _when(activity, slot.bucket.start)
            point = Point(slot.middle, _y(frame, value, ceiling), f"{when}: {kind} {value:.1f} ms")
            points.append(point)
            current.append(f"{point.x},{point.y}")
        if current:
            segments.append(" ".join(current))
        lines.append(Line(kind, segments, points))
    return LineChart(frame, lines, _axis_labels(activity, slots))


def rank_chart(ranked: list[Ranked]) -> RankChart:
    """One horizontal bar per name, the first one full width."""
    bar_width = WIDTH - RANK_LABEL - RANK_GAP - RANK_COUNT
    rows = [
        RankBar(
            name=row.name,
            short_name=(
                row.name
                if len(row.name) <= RANK_NAME_CHARS
                else row.name[: RANK_NAME_CHARS - 1] + "…"
            ),
            count=row.count,
            y=i * RANK_ROW,
            width=max(round(bar_width * row.pct / 100, 1), 1),
        )
        for i, row in enumerate(ranked)
    ]
    return RankChart(WIDTH, max(len(rows), 1) * RANK_ROW, RANK_LABEL + RANK_GAP, bar_width, rows)


@dataclass(frozen=True)
class ActivityCharts:
    calls: ColumnChart
    latency: LineChart
    tools: RankChart
    people: RankChart


def activity_charts(activity: Activity) -> ActivityCharts:
    """Every chart of a window's activity, as the dashboard draws them."""
    return ActivityCharts(
        calls=calls_chart(activity),
        latency=latency_chart(activity),
        tools=rank_chart(activity.top_tools),
        people=rank_chart(activity.top_people),
    )
