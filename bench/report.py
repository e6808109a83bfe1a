"""The data-plane benchmark's bars and what it prints: the table, the verdicts, and the
comparison with a baseline checkout.

`acceptance` takes a platform's figures beside the floor's: the p50 overhead at c=1 and the
median of the throughput ratios of the c=32 pairs. The bars judge the gateway under uvicorn;
daphne and a baseline get the same figures, for comparison only.
"""

import statistics

LATENCY_BAR_MS = 1.5
THROUGHPUT_BAR = 0.35


def acceptance(gateway: dict, floor: dict) -> dict:
    """The bars; `gateway` and `floor` map 1 to one Figures and 32 to one Figures per pair."""
    overhead = round(gateway[1].p50_ms - floor[1].p50_ms, 3)
    ratios = [g.calls_per_s / f.calls_per_s for g, f in zip(gateway[32], floor[32], strict=True)]
    ratio = round(statistics.median(ratios), 3)
    return {
        "p50_overhead_c1_ms": overhead,
        "p50_overhead_bar_ms": LATENCY_BAR_MS,
        "p50_overhead_pass": overhead <= LATENCY_BAR_MS,
        "throughput_ratio_c32": ratio,
        "throughput_ratios_c32_by_pair": [round(r, 3) for r in ratios],
        "throughput_ratio_bar": THROUGHPUT_BAR,
        "throughput_ratio_pass": ratio >= THROUGHPUT_BAR,
    }


def comparison(gateway: dict, baseline: dict) -> dict:
    """The gateway's figures beside the baseline's, both from `acceptance` in one run."""
    ratio, base = gateway["throughput_ratio_c32"], baseline["throughput_ratio_c32"]
    pairs = zip(
        gateway["throughput_ratios_c32_by_pair"],
        baseline["throughput_ratios_c32_by_pair"],
        strict=True,
    )
    return {
        "gateway_ratio_c32": ratio,
        "baseline_ratio_c32": base,
        "difference_points_c32": round((ratio - base) * 100, 1),
        "ratios_c32_by_pair": [{"gateway": g, "baseline": b} for g, b in pairs],
        "gateway_p50_overhead_c1_ms": gateway["p50_overhead_c1_ms"],
        "baseline_p50_overhead_c1_ms": baseline["p50_overhead_c1_ms"],
    }


def table(results: dict) -> str:
    lines = [
        f"{'target':<20} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}",
        "-" * 61,
    ]
    for target in results["targets"].values():
        for f in target["figures"].values():
            lines.append(
                f"{target['label']:<20} {f['concurrency']:>3} {f['calls_per_s']:>9.0f}"
                f" {f['p50_ms']:>8.2f} {f['p90_ms']:>8.2f} {f['p99_ms']:>8.2f}"
            )
    return "\n".join(lines)


def verdict(name: str, check: dict) -> str:
    over, ratio = check["p50_overhead_c1_ms"], check["throughput_ratio_c32"]
    return (
        f"{name}: p50 overhead at c=1 {over:+.2f} ms (bar <= {LATENCY_BAR_MS} ms): "
        f"{'PASS' if check['p50_overhead_pass'] else 'FAIL'}\n"
        f"{name}: throughput at c=32 {ratio:.0%} of the floor, median of the pairs "
        f"{', '.join(f'{r:.0%}' for r in check['throughput_ratios_c32_by_pair'])}"
        f" (bar >= {THROUGHPUT_BAR:.0%}): {'PASS' if check['throughput_ratio_pass'] else 'FAIL'}"
    )


def comparison_line(compared: dict) -> str:
    pairs = ", ".join(
        f"{p['gateway']:.0%} vs {p['baseline']:.0%}" for p in compared["ratios_c32_by_pair"]
    )
    return (
        f"gateway ÷ floor vs baseline ÷ floor (median of pairs): "
        f"{compared['gateway_ratio_c32']:.0%} vs {compared['baseline_ratio_c32']:.0%} "
        f"({compared['difference_points_c32']:+.1f} points; pairs {pairs}); "
        f"p50 overhead at c=1 {compared['gateway_p50_overhead_c1_ms']:+.2f} ms vs "
        f"{compared['baseline_p50_overhead_c1_ms']:+.2f} ms"
    )
