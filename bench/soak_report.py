"""The soak's figures from its records: latency percentiles, errors, memory and audit completeness.

Everything here is computed from the calls and memory samples the run kept, and written under
the run's directory: `calls.csv` (every call), `rss.csv` and `rss.svg` (the server tree's memory
over time), and `summary.json` (every figure below, the verdict included).
"""

import csv
import json
from collections import Counter
from pathlib import Path

from soak_load import Call
from svg_chart import line_chart

MB = 1024 * 1024


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency(calls: list[Call]) -> dict:
    values = [c.latency_ms for c in calls]
    return {
        "calls": len(values),
        "p50_ms": percentile(values, 0.50),
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
        "max_ms": max(values, default=None),
    }


def windows(calls: list[Call], seconds: float) -> list[dict]:
    """Latency of `calls` per window of `seconds`, by when each call started."""
    by_window: dict[int, list[Call]] = {}
    for c in calls:
        by_window.setdefault(int(c.started // seconds), []).append(c)
    return [
        {"from_s": i * seconds, "to_s": (i + 1) * seconds, **latency(by_window[i])}
        for i in sorted(by_window)
    ]


def outcomes(calls: list[Call]) -> dict[str, dict[str, int]]:
    """Calls per target and outcome."""
    counted: dict[str, Counter] = {}
    for c in calls:
        counted.setdefault(c.target, Counter())[c.outcome] += 1
    return {target: dict(sorted(counter.items())) for target, counter in sorted(counted.items())}


def completeness(calls: list[Call], audited: dict[str, list[str]]) -> dict:
    """Answered tools/call calls against those with both client hops in the audit log."""
    answered = [c for c in calls if c.answered and c.target != "tools/list"]
    requests = set(audited.get("client.request", []))
    responses = set(audited.get("client.response", []))
    missing = [
        {
            "rpc_id": c.rpc_id,
            "target": c.target,
            "outcome": c.outcome,
            "client.request": c.rpc_id in requests,
            "client.response": c.rpc_id in responses,
        }
        for c in answered
        if c.rpc_id not in requests or c.rpc_id not in responses
    ]
    complete = len(answered) - len(missing)
    return {
        "answered_calls": len(answered),
        "audited_calls": complete,
        "percent": round(100 * complete / len(answered), 3) if answered else 100.0,
        "missing": missing,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(summary: dict) -> str:
    """The printed report."""
    lines = ["healthy upstream latency (ms)"]
    lines.append(f"  {'window':<16}{'calls':>8}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    rows = [("whole run", summary["healthy"])]
    rows += [(f"{w['from_s'] / 60:g}-{w['to_s'] / 60:g} min", w) for w in summary["windows"]]
    for label, f in rows:
        lines.append(
            f"  {label:<16}{f['calls']:>8}{_ms(f['p50_ms']):>10}{_ms(f['p95_ms']):>10}"
            f"{_ms(f['p99_ms']):>10}{_ms(f['max_ms']):>10}"
        )
    lines.append("")
    lines.append("calls per target and outcome")
    for target, counts in summary["outcomes"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"  {target:<12}{sum(counts.values()):>8}  {shown}")
    lines.append("")
    rss = summary["rss_mb"]
    lines.append(
        f"server tree RSS: {rss['first']:.0f} MB at start, {rss['last']:.0f} MB at the end, "
        f"peak {rss['peak']:.0f} MB ({summary['rss_samples']} samples)"
    )
    audit = summary["audit"]
    lines.append(
        f"audit completeness: {audit['audited_calls']} of {audit['answered_calls']} answered "
        f"calls have client.request and client.response entries ({audit['percent']}%)"
    )
    for gap in audit["missing"][:20]:
        lines.append(f"  missing: {json.dumps(gap)}")
    if len(audit["missing"]) > 20:
        lines.append(f"  ... and {len(audit['missing']) - 20} more in summary.json")
    return "\n".join(lines)


def write_calls(path: Path, calls: list[Call]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["target", "rpc_id", "started_s", "latency_ms", "outcome", "answered"])
        for c in calls:
            writer.writerow([c.target, c.rpc_id, c.started, c.latency_ms, c.outcome, c.answered])


def write_rss(directory: Path, samples: list[dict]) -> dict:
    """rss.csv and rss.svg; returns the first, last and peak total in MB."""
    with open(directory / "rss.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["t_s", "server_mb", "children_mb", "total_mb", "processes"])
        for s in samples:
            writer.writerow(
                [
                    s["t"],
                    round(s["server"] / MB, 1),
                    round(s["children"] / MB, 1),
                    round((s["server"] + s["children"]) / MB, 1),
                    s["processes"],
                ]
            )
    series = {
        "server + children": [(s["t"] / 60, (s["server"] + s["children"]) / MB) for s in samples],
        "server": [(s["t"] / 60, s["server"] / MB) for s in samples],
        "children": [(s["t"] / 60, s["children"] / MB) for s in samples],
    }
    chart = line_chart(
        series, title="Server tree RSS during the soak", x_label="minutes", y_label="MB"
    )
    (directory / "rss.svg").write_text(chart)
    totals = [y for _, y in series["server + children"]] or [0.0]
    return {"first": totals[0], "last": totals[-1], "peak": max(totals)}
