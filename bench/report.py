"""The data-plane benchmark's bars and what it prints: the table, the verdicts, and the
comparison with a baseline checkout.

`acceptance` takes a platform's figures beside the floor's: the p50 overhead at c=1, the median
of the throughput ratios of the c=32 pairs and, where the backend has a bar for it, the median
of the pairs' p99 ratios. `BARS` holds each backend's bars; a baseline gets the SQLite bars'
figures for comparison only. `audit_bar` and `clean_log_bar` judge what a platform left behind.
"""

import re
import statistics

# Per backend: the most p50 at c=1 may grow over the floor's, the least share of the floor's
# calls/s at c=32, and the most the p99 at c=32 may be as a multiple of the floor's.
BARS = {
    "sqlite": {"latency_ms": 0.3, "throughput": 0.50, "p99_factor": None},
    "postgres": {"latency_ms": 0.5, "throughput": 0.35, "p99_factor": 3.0},
}
# What may not appear in a server's log: a traceback, or a line naming an unhandled exception.
_LOG_PROBLEM = re.compile(r"Traceback|Unhandled|exception", re.IGNORECASE)


def acceptance(gateway: dict, floor: dict, backend: str = "sqlite") -> dict:
    """The bars; `gateway` and `floor` map each concurrency (1, 32) to one Figures per pair."""
    bars = BARS[backend]
    added = [g.p50_ms - f.p50_ms for g, f in zip(gateway[1], floor[1], strict=True)]
    overhead = round(statistics.median(added), 3)
    pairs = list(zip(gateway[32], floor[32], strict=True))
    ratios = [g.calls_per_s / f.calls_per_s for g, f in pairs]
    ratio = round(statistics.median(ratios), 3)
    checks = {
        "backend": backend,
        "p50_overhead_c1_ms": overhead,
        "p50_overheads_c1_by_pair": [round(a, 3) for a in added],
        "p50_overhead_bar_ms": bars["latency_ms"],
        "p50_overhead_pass": overhead <= bars["latency_ms"],
        "throughput_ratio_c32": ratio,
        "throughput_ratios_c32_by_pair": [round(r, 3) for r in ratios],
        "throughput_ratio_bar": bars["throughput"],
        "throughput_ratio_pass": ratio >= bars["throughput"],
    }
    if bars["p99_factor"] is not None:
        factors = [g.p99_ms / f.p99_ms for g, f in pairs]
        factor = round(statistics.median(factors), 2)
        checks |= {
            "p99_factor_c32": factor,
            "p99_factors_c32_by_pair": [round(x, 2) for x in factors],
            "p99_factor_bar": bars["p99_factor"],
            "p99_factor_pass": factor <= bars["p99_factor"],
        }
    return checks


def passed(checks: dict) -> bool:
    """Whether every bar in `checks` (one `acceptance`, `audit_bar` or `clean_log_bar`) holds."""
    return all(value for key, value in checks.items() if key.endswith("_pass"))


def audit_bar(tally: dict, *, seen_ok: int, in_flight: int, verified: tuple[bool, str]) -> dict:
    """Nothing lost: every `tools/call` the platform answered has its four entries, as many as
    the calls the bench saw succeed (plus at most `in_flight`, the calls wrk had sent when a
    run ended and did not wait for), and the hash chain verifies."""
    answered, entries = tally["answered_ok"], tally["entries"]
    whole = entries == 4 * answered and len(set(tally["by_hop"].values())) == 1
    return {
        "entries": entries,
        "entries_by_hop": tally["by_hop"],
        "answered_ok": answered,
        "seen_ok_by_bench": seen_ok,
        "unseen_in_flight_max": in_flight,
        "entries_pass": whole and seen_ok <= answered <= seen_ok + in_flight,
        "chain": verified[1],
        "chain_pass": verified[0],
    }


def clean_log_bar(text: str) -> dict:
    """No traceback and no unhandled exception in a server's log; the first offending line."""
    lines = [line for line in text.splitlines() if _LOG_PROBLEM.search(line)]
    return {
        "problem_lines": len(lines),
        "first": lines[0] if lines else "",
        "clean_pass": not lines,
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
    width = max(len(t["label"]) for t in results["targets"].values())
    lines = [
        f"{'target':<{width}} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}",
        "-" * (width + 41),
    ]
    for target in results["targets"].values():
        for f in target["figures"].values():
            lines.append(
                f"{target['label']:<{width}} {f['concurrency']:>3} {f['calls_per_s']:>9.0f}"
                f" {f['p50_ms']:>8.2f} {f['p90_ms']:>8.2f} {f['p99_ms']:>8.2f}"
            )
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    """The table of docs/benchmarks.md: each target at c=1 and c=32, and its ratios to the floor."""
    rows = [
        "| target | c=1 p50 ms | c=32 calls/s | c=32 p99 ms | added p50 | share of floor (pairs)"
        " | p99 ÷ floor's |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    judged = dict(results["acceptance"])
    for era, check in results.get("acceptance_baseline", {}).items():
        judged[f"baseline_{era}"] = check
    for key, target in results["targets"].items():
        one, many = target["figures"]["c1"], target["figures"]["c32"]
        check = judged.get(key)
        added = f"{check['p50_overhead_c1_ms']:+.2f} ms" if check else ""
        share, p99 = "", ""
        if check and "p99_factor_c32" in check:
            p99 = f"{check['p99_factor_c32']:.2f}×"
        if check:
            pairs = ", ".join(f"{r:.0%}" for r in check["throughput_ratios_c32_by_pair"])
            share = f"{check['throughput_ratio_c32']:.0%} ({pairs})"
        rows.append(
            f"| {target['label']} | {one['p50_ms']:.2f} | {many['calls_per_s']:.0f} |"
            f" {many['p99_ms']:.2f} | {added} | {share} | {p99} |"
        )
    return "\n".join(rows)


def cpu_table(results: dict) -> str:
    """CPU time per call at c=32 (the median run), by what spent it, and the shared services'
    work per call: docs/scaling.md's budget."""
    rows = [
        "| target | platform (server + audit writer) ms | PostgreSQL ms | Redis ms | total ms"
        " | PostgreSQL transactions | Redis commands |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target in results["targets"].values():
        figures = target["figures"]["c32"]
        cpu = figures.get("cpu_ms_per_call")
        if cpu:
            cells = [cpu.get(part) for part in ("platform", "postgres", "redis")]
            shown = [f"{cell:.3f}" if cell is not None else "" for cell in cells]
            total = sum(cell for cell in cells if cell is not None)
            shared = figures.get("shared_per_call") or {}
            counts = [shared.get(part) for part in ("postgres_transactions", "redis_commands")]
            counted = [f"{count:.2f}" if count is not None else "" for count in counts]
            rows.append(
                f"| {target['label']} | {' | '.join(shown)} | {total:.3f} | {' | '.join(counted)} |"
            )
    return "\n".join(rows)


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def verdict(name: str, check: dict) -> str:
    over, ratio = check["p50_overhead_c1_ms"], check["throughput_ratio_c32"]
    pairs = ", ".join(f"{r:.0%}" for r in check["throughput_ratios_c32_by_pair"])
    added = ", ".join(f"{a:+.2f}" for a in check["p50_overheads_c1_by_pair"])
    lines = [
        f"{name}: added p50 at c=1 {over:+.2f} ms, median of the pairs {added}"
        f" (bar <= {check['p50_overhead_bar_ms']} ms): {_mark(check['p50_overhead_pass'])}",
        f"{name}: calls/s at c=32 {ratio:.0%} of the floor, median of the pairs {pairs}"
        f" (bar >= {check['throughput_ratio_bar']:.0%}): {_mark(check['throughput_ratio_pass'])}",
    ]
    if "p99_factor_c32" in check:
        factors = ", ".join(f"{x:.2f}" for x in check["p99_factors_c32_by_pair"])
        lines.append(
            f"{name}: p99 at c=32 {check['p99_factor_c32']:.2f}x the floor's, median of the"
            f" pairs {factors} (bar <= {check['p99_factor_bar']:g}x):"
            f" {_mark(check['p99_factor_pass'])}"
        )
    return "\n".join(lines)


def audit_verdict(name: str, check: dict) -> str:
    return (
        f"{name}: nothing lost: {check['entries']} audit entries for {check['answered_ok']}"
        f" answered calls ({check['seen_ok_by_bench']} seen by the bench, at most"
        f" {check['unseen_in_flight_max']} more in flight when a run ended):"
        f" {_mark(check['entries_pass'])}\n"
        f"{name}: chain {check['chain']}: {_mark(check['chain_pass'])}"
    )


def clean_log_verdict(name: str, check: dict) -> str:
    found = f"{check['problem_lines']} lines, first: {check['first']}" if check["first"] else ""
    return f"{name}: clean log {found or 'no traceback'}: {_mark(check['clean_pass'])}"


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
