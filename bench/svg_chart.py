"""A small self-contained SVG line chart: one polyline per series, axes, ticks and labels.

The benchmarks' virtualenv has no plotting library, and a chart of a few series over time does
not justify one: this writes a file any browser opens.
"""

import math
from html import escape

WIDTH, HEIGHT = 800, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 150, 40, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _nice_top(high: float, count: int = 5) -> tuple[float, float]:
    """An axis top at or above `high` and a round step (1, 2 or 5 times a power of ten)."""
    raw = max(high, 1e-9) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step * math.ceil(high / step), step


def _ticks(top: float, step: float) -> list[float]:
    return [step * i for i in range(round(top / step) + 1)]


def line_chart(
    series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str, y_label: str
) -> str:
    """The SVG text of a chart of `series` (name: [(x, y), ...]); y starts at zero."""
    points = [p for values in series.values() for p in values]
    x_max, x_step = _nice_top(max((x for x, _ in points), default=1) or 1)
    y_max, y_step = _nice_top(max((y for _, y in points), default=1) or 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> str:
        return f"{LEFT + x / x_max * plot_w:.1f},{TOP + plot_h - y / y_max * plot_h:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="black"/>',
    ]
    for x in _ticks(x_max, x_step):
        px = LEFT + x / x_max * plot_w
        parts.append(
            f'<line x1="{px:.1f}" y1="{TOP + plot_h}" x2="{px:.1f}" y2="{TOP + plot_h + 5}" '
            'stroke="black"/>'
            f'<text x="{px:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{x:g}</text>'
        )
    for y in _ticks(y_max, y_step):
        py = TOP + plot_h - y / y_max * plot_h
        parts.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + plot_w}" y2="{py:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{y:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        if values:
            polyline = " ".join(at(x, y) for x, y in values)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{polyline}"/>'
            )
        ly = TOP + 10 + 18 * i
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 12}" y1="{ly}" x2="{WIDTH - RIGHT + 32}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{WIDTH - RIGHT + 38}" y="{ly + 4}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
