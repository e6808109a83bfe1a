"""`make bench`: the gateway data plane against a pass-through floor, on both backends, in one run.

It starts a minimal fast upstream, a pass-through floor proxy, and the platform twice: on the
embedded defaults (a fresh SQLite database in a temporary GATEHOUSE_VAR_DIR, in-process cache and
channel layer) and, when PostgreSQL and Redis answer, on them (a fresh database, dropped
afterwards). It checks that one `tools/call` through each returns the right result, then drives
each with wrk at concurrency 1 and 32, with 2026-07-28 stateless calls and with handshake-era
calls in a session opened by `initialize` (the clients in use today).

At each concurrency the floor and the platforms are measured in turn `BENCH_PAIRS` times: each
turn gives every platform one figure against the floor measured just before it (the added p50
at c=1, the throughput ratio and the p99 factor at c=32), and the bars take the median of those
pairs, so one window in which the machine's neighbours took the CPUs cannot decide a verdict
alone. Once measured, each platform is stopped gracefully and judged on what it
left behind: its audit log must hold four entries per answered call and verify, and its log
must hold no traceback. Everything goes to var/bench/results.json; every process it started is
stopped on the way out, however it ends.

With BENCH_BASELINE naming another checkout (see checkout.py), that checkout's platform (SQLite)
is provisioned and served beside this one and measured in the same turns; its ratios to the
floor are reported beside the gateway's, and the bars still judge this checkout alone.

Environment: BENCH_DURATION (seconds per measurement, default 10), BENCH_WARMUP (default 2),
BENCH_PAIRS (turns at each concurrency, default 3), BENCH_BASELINE (a baseline checkout's
directory),
BENCH_DATABASE_URL (the PostgreSQL server; default postgres://postgres@127.0.0.1:5432/postgres,
only its server part is used), BENCH_REDIS_URL (default redis://127.0.0.1:6379/0),
BENCH_BACKENDS (`sqlite`, or `sqlite,postgres` to require both; default: PostgreSQL when it
answers).
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

from backends import (
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    drop_database,
    fresh_database,
    redis_answers,
    shared_service_counts,
)
from checkout import ROOT, UVICORN, Checkout, baseline_from_env
from measure import BadTarget, Figures, Session, call, open_session, verify_echo, wrk
from platforms import Platform
from process_tree import named_cpu_seconds, tree_cpu_seconds
from processes import Server, ServerFailed, free_port, stop_all
from report import (
    acceptance,
    audit_verdict,
    clean_log_verdict,
    comparison,
    comparison_line,
    cpu_table,
    markdown_table,
    passed,
    table,
    verdict,
)

OUT_DIR = ROOT / "var" / "bench"
CONCURRENCIES = (1, 32)
ERAS = {"stateless": "2026-07-28", "session": "session"}
WRK_MISSING = """wrk is not installed; the benchmark drives every target with it.
Install it with:  apt-get install wrk   (Debian/Ubuntu; `brew install wrk` on macOS)"""


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"{name} must be a whole number of seconds (at least 1), not {value!r}.")
    return int(value)


def _postgres() -> tuple[str, str] | None:
    """The PostgreSQL server and Redis to measure on, when both answer; None otherwise (an
    error when BENCH_BACKENDS requires them)."""
    backends = os.environ.get("BENCH_BACKENDS", "").replace(" ", "")
    if backends not in ("", "sqlite", "sqlite,postgres"):
        sys.exit(f"BENCH_BACKENDS must be sqlite or sqlite,postgres, not {backends!r}.")
    if backends == "sqlite":
        return None
    database = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_POSTGRES
    redis = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    fresh = fresh_database(database, "bench")
    if fresh and redis_answers(redis):
        return fresh, redis
    if fresh:
        drop_database(fresh)
    if backends:
        sys.exit(f"PostgreSQL ({database}) and Redis ({redis}) must both answer.")
    print("  PostgreSQL + Redis do not both answer: measuring SQLite only.", flush=True)
    return None


class Target:
    """One thing wrk drives: the upstream, the floor, or a platform in one era."""

    def __init__(self, key, label, url, tool, *, token="", era="stateless", platform=None):
        self.key, self.label, self.url, self.tool = key, label, url, tool
        self.token, self.era, self.platform = token, era, platform
        self.session: Session | None = None

    def check(self) -> None:
        if self.platform is not None:
            if self.era == "session":
                self.session = open_session(self.url, token=self.token)
            reply = call(self.url, "tools/list", {}, token=self.token, session=self.session)
            names = sorted(t.get("name") for t in (reply.get("result") or {}).get("tools", []))
            if names != ["a__echo", "b__echo"]:
                raise BadTarget(f"{self.url}: tools/list should offer a__echo and b__echo: {reply}")
        for tool in {self.tool, "b__echo"} if self.platform else {self.tool}:
            verify_echo(self.url, tool, token=self.token, session=self.session)
            if self.platform is not None:
                self.platform.counted(1, 0)

    def _usage(self) -> dict[str, float]:
        """CPU seconds so far of what serves this target's calls, and the shared services'
        transactions and commands."""
        spent = {"platform": tree_cpu_seconds(self.platform.server.process.pid)}
        if self.platform.backend == "postgres":
            spent["postgres"] = named_cpu_seconds(("postgres",))
            spent["redis"] = named_cpu_seconds(("redis-server",))
            counts = shared_service_counts(self.platform.database_url, self.platform.redis_url)
            spent.update(counts)
        return spent

    def measure(self, *, concurrency: int, warmup: int, duration: int) -> Figures:
        runs = []
        for seconds in (warmup, duration):
            before = self._usage() if self.platform is not None else None
            runs.append(
                wrk(
                    self.url,
                    self.tool,
                    concurrency=concurrency,
                    seconds=seconds,
                    token=self.token,
                    session=self.session,
                )
            )
            if self.platform is not None:
                self.platform.counted(runs[-1].requests, concurrency)
                after = self._usage()
                calls = max(runs[-1].requests, 1)
                runs[-1].cpu_ms_per_call = {
                    part: round(1000 * (after[part] - before[part]) / calls, 3)
                    for part in ("platform", "postgres", "redis")
                    if part in after
                }
                runs[-1].shared_per_call = {
                    part: round((after[part] - before[part]) / calls, 2)
                    for part in ("postgres_transactions", "redis_commands")
                    if part in after
                }
        f = runs[-1]
        print(
            f"  {self.label:<42} c={concurrency:<3} {f.calls_per_s:>9.0f} calls/s"
            f"  p50 {f.p50_ms:6.2f} ms  p99 {f.p99_ms:6.2f} ms",
            flush=True,
        )
        return f


def _median_run(runs: list[Figures]) -> Figures:
    """The run with the median throughput: the one a table shows for several."""
    return sorted(runs, key=lambda f: f.calls_per_s)[len(runs) // 2]


def _order(keys: list[str], turn: int) -> list[str]:
    """One turn's targets: the floor first, then the platforms rotated by one place per turn,
    so that none is always the one measured straight after the floor."""
    rest = [k for k in keys if k != "floor"]
    shift = turn % len(rest) if rest else 0
    return ["floor", *rest[shift:], *rest[:shift]]


def _platforms(var_dirs: list[Path], baseline_root: Path | None, pg) -> list[Platform]:
    """The platforms to serve, each with a temporary var dir of its own (its SQLite file, its
    audit writer's files, the record of its imports)."""

    def checkout(label: str, root: Path) -> Checkout:
        var_dirs.append(Path(tempfile.mkdtemp(prefix="gatehouse-bench-")))
        return Checkout(label, root, var_dirs[-1])

    found = [Platform("sqlite", "gateway on SQLite", checkout("the platform", ROOT))]
    if pg:
        database, redis = pg
        found.append(
            Platform(
                "postgres",
                "gateway on PostgreSQL + Redis",
                checkout("the platform", ROOT),
                database_url=database,
                redis_url=redis,
            )
        )
    if baseline_root:
        found.append(
            Platform("baseline", "baseline on SQLite", checkout("the baseline", baseline_root))
        )
    return found


def run(servers: list[Server], platforms: list[Platform]) -> int:
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
    checkouts = list({p.checkout.root: p.checkout for p in platforms}.values())
    baseline = next((p.checkout for p in platforms if p.key == "baseline"), None)
    for checkout in checkouts:
        commit = checkout.commit() or "no git commit"
        print(f"  {checkout.label}: {checkout.root} at {commit}", flush=True)
    for each in platforms:
        where = each.database_url.rsplit("/", 1)[-1] if each.database_url else "temporary file"
        print(f"  {each.label}: database {where}", flush=True)

    ports = {name: free_port() for name in ("upstream", "floor")}
    upstream_url = f"http://127.0.0.1:{ports['upstream']}/mcp"
    bench_env = {**os.environ, "BENCH_UPSTREAM_URL": upstream_url}
    app_dir = ["--app-dir", str(ROOT / "bench")]
    for name, app in (("upstream", "upstream:app"), ("floor", "floor_proxy:app")):
        argv = [py, "-m", "uvicorn", app, *app_dir, "--port", str(ports[name]), *UVICORN]
        server = Server(name, argv, port=ports[name], env=bench_env, cwd=ROOT, log_dir=OUT_DIR)
        servers.append(server.start())
    for each in platforms:
        each.provision(upstream_url)
        servers.append(each.serve(free_port(), OUT_DIR))
    for server in servers:
        server.wait_listening()
    roots = [checkout.root for checkout in checkouts]
    for each in platforms:
        count = each.checkout.check_imports(each.server.process.pid, roots)
        print(f"  {each.label}: served with {count} modules of its own tree", flush=True)

    targets = {
        "upstream": Target("upstream", "upstream direct", upstream_url, "echo"),
        "floor": Target(
            "floor", "floor proxy", f"http://127.0.0.1:{ports['floor']}/mcp", "a__echo"
        ),
    }
    for each in platforms:
        for era, shown in ERAS.items():
            key = f"{each.key}_{era}"
            label = f"{each.label}, {shown}"
            token = each.access["token"]
            targets[key] = Target(
                key, label, each.url(), "a__echo", token=token, era=era, platform=each
            )
    for target in targets.values():
        target.check()
    print("  every target echoes correctly; measuring", flush=True)

    # Concurrency outermost: the floor and the platforms at one concurrency are measured close
    # together in time, so a change in the machine's load skews the ratios less. At each
    # concurrency the floor and the platforms take turns `pairs` times (the upstream alone is
    # measured once).
    runs: dict[str, dict[int, list[Figures]]] = {
        key: {c: [] for c in CONCURRENCIES} for key in targets
    }
    for concurrency in CONCURRENCIES:
        for turn in range(pairs):
            keys = _order(list(targets), turn)
            for key in keys if turn == 0 else [k for k in keys if k != "upstream"]:
                runs[key][concurrency].append(
                    targets[key].measure(concurrency=concurrency, warmup=warmup, duration=duration)
                )
    measured = {key: {c: _median_run(r) for c, r in by_c.items()} for key, by_c in runs.items()}

    checks = {
        key: acceptance(
            runs[key],
            runs["floor"],
            "postgres" if target.platform.backend == "postgres" else "sqlite",
        )
        for key, target in targets.items()
        if target.platform is not None
    }
    print("  stopping the platforms; checking their audit logs and logs", flush=True)
    left = {each.key: each.finish() for each in platforms if each.key != "baseline"}
    results = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": duration,
        "warmup_s": warmup,
        "pairs": pairs,
        "cpus": os.cpu_count(),
        "load_average_before": round(load, 2),
        "python": platform.python_version(),
        "server": "uvicorn (httptools, uvloop), 1 worker",
        "calls": {
            "stateless": "2026-07-28 tools/call, JSON reply",
            "session": "handshake-era (2025-11-25) tools/call in a session opened by initialize",
        },
        "checkout": {
            "dir": str(platforms[0].checkout.root),
            "commit": platforms[0].checkout.commit(),
        },
        "backends": {
            each.key: "PostgreSQL + Redis" if each.database_url else "SQLite, embedded cache"
            for each in platforms
        },
        "targets": {
            key: {
                "label": targets[key].label,
                "figures": {f"c{c}": f.as_dict() for c, f in figures.items()},
                "runs_c1": [f.as_dict() for f in runs[key][1]],
                "runs_c32": [f.as_dict() for f in runs[key][32]],
            }
            for key, figures in measured.items()
        },
        "acceptance": {k: v for k, v in checks.items() if not k.startswith("baseline")},
        "audit": {key: found["audit"] for key, found in left.items()},
        "clean_log": {key: found["log"] for key, found in left.items()},
    }
    if baseline:
        results["baseline"] = {"dir": str(baseline.root), "commit": baseline.commit()}
        results["acceptance_baseline"] = {era: checks[f"baseline_{era}"] for era in ERAS}
        results["comparison_with_baseline"] = {
            era: comparison(checks[f"sqlite_{era}"], checks[f"baseline_{era}"]) for era in ERAS
        }
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print()
    print(json.dumps(results, indent=2))
    print()
    print(markdown_table(results))
    print()
    print(cpu_table(results))
    print()
    verdicts = []
    for key, check in results["acceptance"].items():
        print(verdict(targets[key].label, check))
        verdicts.append(passed(check))
    for key, found in left.items():
        name = next(p.label for p in platforms if p.key == key)
        print(audit_verdict(name, found["audit"]))
        print(clean_log_verdict(name, found["log"]))
        verdicts += [passed(found["audit"]), passed(found["log"])]
    if baseline:
        for era in ERAS:
            print(verdict(f"baseline, {ERAS[era]}, for comparison", checks[f"baseline_{era}"]))
            print(f"{ERAS[era]}: " + comparison_line(results["comparison_with_baseline"][era]))
    print(f"\nWritten to {OUT_DIR / 'results.json'}")
    return 0 if all(verdicts) else 1


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
    var_dirs: list[Path] = []
    platforms: list[Platform] = []
    try:
        platforms = _platforms(var_dirs, baseline_root, _postgres())
        return run(servers, platforms)
    except (BadTarget, ServerFailed) as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        print(f"Server logs are in {OUT_DIR}/*.log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        return 130
    finally:
        stop_all(servers)
        for each in platforms:
            each.drop_storage()
        for var_dir in var_dirs:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
