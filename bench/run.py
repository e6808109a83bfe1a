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

Environment: BENCH_DURATION (seconds per measurement, default 10), BENCH_WARMUP (default 2),
BENCH_PAIRS (alternating floor and gateway measurements at c=32, default 3).
"""

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import BadTarget, Figures, call, verify_echo, wrk
from processes import Server, ServerFailed, free_port, stop_all

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "var" / "bench"
CONCURRENCIES = (1, 32)
LATENCY_BAR_MS = 1.5
THROUGHPUT_BAR = 0.35
UVICORN = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
WRK_MISSING = """wrk is not installed; the benchmark drives every target with it.
Install it with:  apt-get install wrk   (Debian/Ubuntu; `brew install wrk` on macOS)"""


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"{name} must be a whole number of seconds (at least 1), not {value!r}.")
    return int(value)


def _platform_env(var_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        GATEHOUSE_VAR_DIR=var_dir,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def _start(servers, name, argv, *, env, port, cwd=ROOT) -> Server:
    server = Server(name, argv, port=port, env=env, cwd=cwd, log_dir=OUT_DIR).start()
    servers.append(server)
    return server


def _provision(env: dict, upstream_url: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "provision.py"), upstream_url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServerFailed(f"provisioning the platform failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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


def _acceptance(gateway: dict, floor: dict) -> dict:
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


def _median_run(runs: list[Figures]) -> Figures:
    """The run with the median throughput: the one a table shows for several."""
    return sorted(runs, key=lambda f: f.calls_per_s)[len(runs) // 2]


def _table(results: dict) -> str:
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


def _verdict(name: str, check: dict) -> str:
    over, ratio = check["p50_overhead_c1_ms"], check["throughput_ratio_c32"]
    return (
        f"{name}: p50 overhead at c=1 {over:+.2f} ms (bar <= {LATENCY_BAR_MS} ms): "
        f"{'PASS' if check['p50_overhead_pass'] else 'FAIL'}\n"
        f"{name}: throughput at c=32 {ratio:.0%} of the floor, median of the pairs "
        f"{', '.join(f'{r:.0%}' for r in check['throughput_ratios_c32_by_pair'])}"
        f" (bar >= {THROUGHPUT_BAR:.0%}): {'PASS' if check['throughput_ratio_pass'] else 'FAIL'}"
    )


def run(servers: list[Server], var_dir: str) -> int:
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

    ports = {name: free_port() for name in ("upstream", "floor", "uvicorn", "daphne")}
    upstream_url = f"http://127.0.0.1:{ports['upstream']}/mcp"
    bench_env = {**os.environ, "BENCH_UPSTREAM_URL": upstream_url}
    app_dir = ["--app-dir", str(ROOT / "bench")]
    for name, app in (("upstream", "upstream:app"), ("floor", "floor_proxy:app")):
        argv = [py, "-m", "uvicorn", app, *app_dir, "--port", str(ports[name]), *UVICORN]
        _start(servers, name, argv, env=bench_env, port=ports[name])

    env = _platform_env(var_dir)
    access = _provision(env, upstream_url)
    app = "config.asgi:application"
    argv = [py, "-m", "uvicorn", app, "--port", str(ports["uvicorn"]), "--workers", "1", *UVICORN]
    _start(servers, "gateway-uvicorn", argv, env=env, port=ports["uvicorn"])
    argv = [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(ports["daphne"]), "-v", "0", app]
    _start(servers, "gateway-daphne", argv, env=env, port=ports["daphne"])
    for server in servers:
        server.wait_listening()

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
        "gateway_daphne": (
            "gateway (daphne)",
            f"http://127.0.0.1:{ports['daphne']}{path}",
            "a__echo",
            token,
        ),
    }
    for key, (_label, url, tool, secret) in targets.items():
        verify_echo(url, tool, token=secret)
        if key.startswith("gateway"):
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
            for key, (label, url, tool, secret) in targets.items():
                if turn and key == "upstream":
                    continue
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
        return _acceptance({1: gateway[1][0], 32: gateway[32]}, {1: floor[1][0], 32: floor[32]})

    checks = {"gateway_uvicorn": bars("gateway_uvicorn"), "gateway_daphne": bars("gateway_daphne")}
    results = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": duration,
        "warmup_s": warmup,
        "pairs_c32": pairs,
        "cpus": os.cpu_count(),
        "load_average_before": round(load, 2),
        "python": platform.python_version(),
        "call": "2026-07-28 tools/call, JSON reply, gateway with two assignments of the upstream",
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
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(_table(results))
    print()
    print(json.dumps(results, indent=2))
    print()
    print(_verdict("gateway (uvicorn)", checks["gateway_uvicorn"]))
    print(_verdict("gateway (daphne), for comparison", checks["gateway_daphne"]))
    print(f"\nWritten to {OUT_DIR / 'results.json'}")
    bars = checks["gateway_uvicorn"]
    return 0 if bars["p50_overhead_pass"] and bars["throughput_ratio_pass"] else 1


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    servers: list[Server] = []
    var_dir = tempfile.mkdtemp(prefix="gatehouse-bench-")
    try:
        return run(servers, var_dir)
    except (BadTarget, ServerFailed) as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        print(f"Server logs are in {OUT_DIR}/*.log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        return 130
    finally:
        stop_all(servers)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
