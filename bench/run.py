"""`make bench`: the gateway data plane against a pass-through floor, in one run.

It starts a minimal fast upstream, a pass-through floor proxy, and the platform itself (a fresh
SQLite database in a temporary GATEHOUSE_VAR_DIR, served by uvicorn and, separately, by daphne),
checks that one `tools/call` through each returns the right result, then drives each with wrk at
concurrency 1 and 32. It prints a table and JSON (also written to var/bench/results.json) and the
two acceptance bars: the gateway's added p50 latency at c=1, and its share of the floor's
throughput at c=32. Every process it started is stopped on the way out, however it ends.

At concurrency 32 the floor and the gateways are measured in turn `BENCH_PAIRS` times: each
pair gives one throughput ratio, and the bar takes their median, so one window in which the
machine's neighbours took the CPUs from one side cannot decide the verdict alone.

With BENCH_BASELINE naming another checkout (see checkout.py), that checkout's platform is
provisioned and served beside this one and measured as a third target, "baseline", in the same
turns; its ratios to the floor are reported beside the gateway's, and the bars still judge the
gateway alone.

Environment: BENCH_DURATION (seconds per measurement, default 10), BENCH_WARMUP (default 2),
BENCH_PAIRS (alternating floor and gateway measurements at c=32, default 3), BENCH_BASELINE
(a baseline checkout's directory, unset by default).
"""

import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from checkout import APP, ROOT, UVICORN, Checkout, baseline_from_env
from measure import BadTarget, Figures, call, verify_echo, wrk
from processes import Server, ServerFailed, free_port, stop_all
from report import acceptance, comparison, comparison_line, table, verdict

OUT_DIR = ROOT / "var" / "bench"
CONCURRENCIES = (1, 32)
# The targets that are the platform, checked for their tool list before they are measured.
PLATFORMS = ("gateway_uvicorn", "baseline", "gateway_daphne")
WRK_MISSING = """wrk is not installed; the benchmark drives every target with it.
Install it with:  apt-get install wrk   (Debian/Ubuntu; `brew install wrk` on macOS)"""


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"{name} must be a whole number of seconds (at least 1), not {value!r}.")
    return int(value)


def _start(servers, name, argv, *, env, port, cwd=ROOT) -> Server:
    server = Server(name, argv, port=port, env=env, cwd=cwd, log_dir=OUT_DIR).start()
    servers.append(server)
    return server


def _verify_gateway(url: str, token: str) -> None:
    reply = call(url, "tools/list", {}, token=token)
    names = sorted(t.get("name") for t in (reply.get("result") or {}).get("tools", []))
    if names != ["a__echo", "b__echo"]:
        raise BadTarget(f"{url}: tools/list should offer a__echo and b__echo: {reply}")
    verify_echo(url, "b__echo", token=token)


def _measure(
    label: str, url: str, tool: str, *, concurrency: int, token: str, warmup: int, duration: int
) -> Figures:
    wrk(url, tool, concurrency=concurrency, seconds=warmup, token=token)
    f = wrk(url, tool, concurrency=concurrency, seconds=duration, token=token)
    print(
        f"  {label:<20} c={concurrency:<3} {f.calls_per_s:>9.0f} calls/s"
        f"  p50 {f.p50_ms:6.2f} ms  p99 {f.p99_ms:6.2f} ms",
        flush=True,
    )
    return f


def _median_run(runs: list[Figures]) -> Figures:
    """The run with the median throughput: the one a table shows for several."""
    return sorted(runs, key=lambda f: f.calls_per_s)[len(runs) // 2]


def _order(keys: list[str], turn: int) -> list[str]:
    """The targets of one turn in the order given, except that the gateway and the baseline
    swap places every other turn, so that neither is always the one measured straight after
    the floor."""
    keys = list(keys)
    if turn % 2 and "baseline" in keys:
        i, j = keys.index("gateway_uvicorn"), keys.index("baseline")
        keys[i], keys[j] = keys[j], keys[i]
    return keys


def _serve_checked(servers, checkout: Checkout, name: str, port: int) -> Server:
    return _start(
        servers, name, checkout.uvicorn_argv(port), env=checkout.env(), port=port, cwd=checkout.root
    )


def run(servers: list[Server], current: Checkout, baseline: Checkout | None) -> int:
    warmup, duration = _seconds("BENCH_WARMUP", 2), _seconds("BENCH_DURATION", 10)
    pairs = _seconds("BENCH_PAIRS", 3)
    py = sys.executable
    load = os.getloadavg()[0]
    print(
        f"Gatehouse bench: {duration} s per measurement after a {warmup} s warm-up, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}",
        flush=True,
    )
    if load > 0.5 * (os.cpu_count() or 1):
        print("  note: the machine is busy; absolute figures will be noisy.", flush=True)
    checkouts = [current] + ([baseline] if baseline else [])
    for checkout in checkouts:
        commit = checkout.commit() or "no git commit"
        print(f"  {checkout.label}: {checkout.root} at {commit}", flush=True)

    names = ["upstream", "floor", "uvicorn", "daphne"] + (["baseline"] if baseline else [])
    ports = {name: free_port() for name in names}
    upstream_url = f"http://127.0.0.1:{ports['upstream']}/mcp"
    bench_env = {**os.environ, "BENCH_UPSTREAM_URL": upstream_url}
    app_dir = ["--app-dir", str(ROOT / "bench")]
    for name, app in (("upstream", "upstream:app"), ("floor", "floor_proxy:app")):
        argv = [py, "-m", "uvicorn", app, *app_dir, "--port", str(ports[name]), *UVICORN]
        _start(servers, name, argv, env=bench_env, port=ports[name])

    access = current.provision(upstream_url)
    served = [(current, _serve_checked(servers, current, "gateway-uvicorn", ports["uvicorn"]))]
    argv = [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(ports["daphne"]), "-v", "0", APP]
    _start(servers, "gateway-daphne", argv, env=current.env(), port=ports["daphne"])
    if baseline:
        base_access = baseline.provision(upstream_url)
        served.append(
            (baseline, _serve_checked(servers, baseline, "baseline-uvicorn", ports["baseline"]))
        )
    for server in servers:
        server.wait_listening()
    roots = [checkout.root for checkout in checkouts]
    for checkout, server in served:
        count = checkout.check_imports(server.process.pid, roots)
        print(f"  {checkout.label}: served with {count} modules of its own tree", flush=True)

    path, token = access["path"], access["token"]
    targets = {
        "upstream": ("upstream direct", upstream_url, "echo", ""),
        "floor": ("floor proxy", f"http://127.0.0.1:{ports['floor']}/mcp", "a__echo", ""),
        "gateway_uvicorn": (
            "gateway (uvicorn)",
            f"http://127.0.0.1:{ports['uvicorn']}{path}",
            "a__echo",
            token,
        ),
    }
    if baseline:
        targets["baseline"] = (
            "baseline (uvicorn)",
            f"http://127.0.0.1:{ports['baseline']}{base_access['path']}",
            "a__echo",
            base_access["token"],
        )
    targets["gateway_daphne"] = (
        "gateway (daphne)",
        f"http://127.0.0.1:{ports['daphne']}{path}",
        "a__echo",
        token,
    )
    for key, (_label, url, tool, secret) in targets.items():
        verify_echo(url, tool, token=secret)
        if key in PLATFORMS:
            _verify_gateway(url, secret)
    print("  every target echoes correctly; measuring", flush=True)

    # Concurrency outermost: the floor and the gateway at one concurrency are measured close
    # together in time, so a change in the machine's load skews the ratios less. At c=32 the
    # floor and the gateways take turns `pairs` times (the upstream alone is measured once).
    runs: dict[str, dict[int, list[Figures]]] = {
        key: {c: [] for c in CONCURRENCIES} for key in targets
    }
    for concurrency in CONCURRENCIES:
        for turn in range(pairs if concurrency == 32 else 1):
            for key in _order(list(targets), turn):
                if turn and key == "upstream":
                    continue
                label, url, tool, secret = targets[key]
                runs[key][concurrency].append(
                    _measure(
                        label,
                        url,
                        tool,
                        concurrency=concurrency,
                        token=secret,
                        warmup=warmup,
                        duration=duration,
                    )
                )
    measured = {key: {c: _median_run(r) for c, r in by_c.items()} for key, by_c in runs.items()}

    def bars(key):
        gateway, floor = runs[key], runs["floor"]
        return acceptance({1: gateway[1][0], 32: gateway[32]}, {1: floor[1][0], 32: floor[32]})

    checks = {key: bars(key) for key in targets if key in PLATFORMS}
    results = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": duration,
        "warmup_s": warmup,
        "pairs_c32": pairs,
        "cpus": os.cpu_count(),
        "load_average_before": round(load, 2),
        "python": platform.python_version(),
        "call": "2026-07-28 tools/call, JSON reply, gateway with two assignments of the upstream",
        "checkout": {"dir": str(current.root), "commit": current.commit()},
        "targets": {
            key: {
                "label": targets[key][0],
                "figures": {f"c{c}": f.as_dict() for c, f in figures.items()},
                "runs_c32": [f.as_dict() for f in runs[key][32]],
            }
            for key, figures in measured.items()
        },
        # The bars apply to uvicorn, the production server; daphne's are shown for comparison.
        "acceptance": checks["gateway_uvicorn"],
        "acceptance_daphne": checks["gateway_daphne"],
    }
    if baseline:
        results["baseline"] = {"dir": str(baseline.root), "commit": baseline.commit()}
        results["acceptance_baseline"] = checks["baseline"]
        results["comparison_with_baseline"] = comparison(
            checks["gateway_uvicorn"], checks["baseline"]
        )
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print()
    print(json.dumps(results, indent=2))
    print()
    print(verdict("gateway (uvicorn)", checks["gateway_uvicorn"]))
    print(verdict("gateway (daphne), for comparison", checks["gateway_daphne"]))
    if baseline:
        print(verdict("baseline (uvicorn), for comparison", checks["baseline"]))
        print(comparison_line(results["comparison_with_baseline"]))
    print(f"\nWritten to {OUT_DIR / 'results.json'}")
    judged = checks["gateway_uvicorn"]
    return 0 if judged["p50_overhead_pass"] and judged["throughput_ratio_pass"] else 1


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    baseline_root = baseline_from_env()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    servers: list[Server] = []
    var_dirs = [Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))]
    current = Checkout("the platform", ROOT, var_dirs[0])
    baseline = None
    if baseline_root:
        var_dirs.append(Path(tempfile.mkdtemp(prefix="gatehouse-bench-baseline-")))
        baseline = Checkout("the baseline", baseline_root, var_dirs[1])
    try:
        return run(servers, current, baseline)
    except (BadTarget, ServerFailed) as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        print(f"Server logs are in {OUT_DIR}/*.log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        return 130
    finally:
        stop_all(servers)
        for var_dir in var_dirs:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
