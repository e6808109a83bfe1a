"""`make bench-soak`: the platform under misbehaving upstreams for a long run (30 minutes).

    .venv/bin/python bench/soak.py [--minutes 30] [--p99-bar-ms 250] [--clients 8]

It starts four upstreams on loopback (bench/soak_upstreams.py): healthy, flapping (stopped and
restarted on a schedule: up `--flap-up` seconds, down `--flap-down`), hanging (never answers)
and large (results of 2 to 8 MB, one in eight over the 10 MB reply cap); provisions a fresh
platform with one gateway assigning all four (bench/soak_platform.py); serves it with
`manage.py serve` (uvicorn, whose audit writer is a child process); and drives it with
`--clients` MCP clients (bench/soak_load.py) while sampling the server tree's memory. At the end
it stops the load, lets the calls in flight finish, stops the server gracefully so the writer
flushes, and reads the audit log back.

It writes every call, the memory samples, an SVG chart and a summary under
var/bench/soak/<timestamp>/ and prints a table. The exit status is 1 when an answered call is
missing from the audit log, or when the healthy upstream's p99 exceeds `--p99-bar-ms`.

SQLite in a temporary GATEHOUSE_VAR_DIR by default; PostgreSQL and Redis when
BENCH_DATABASE_URL (created if missing) and BENCH_REDIS_URL are set. SOAK_MINUTES sets the
default length.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from backends import child, ensure_database, platform_env, stop_gracefully
from checkout import ROOT, UVICORN, Checkout
from process_tree import tree_rss
from processes import Server, ServerFailed, free_port, stop_all
from soak_load import Client, roles
from soak_report import completeness, latency, outcomes, table, windows, write_calls, write_rss

UPSTREAMS = ("healthy", "flapping", "hanging", "large")
# Long enough for the gateway to give up on the hanging upstream first
# (MCP_UPSTREAM_TIMEOUT_SECONDS, 60 s by default), so its answer is what gets recorded.
CALL_TIMEOUT = 75.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30"))
    )
    parser.add_argument("--p99-bar-ms", type=float, default=250.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--think-ms", type=float, default=50.0, help="pause between calls")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT)
    parser.add_argument("--window-minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--flap-up", type=float, default=20.0)
    parser.add_argument("--flap-down", type=float, default=10.0)
    args = parser.parse_args()
    if args.minutes <= 0 or args.clients < 1:
        parser.error("--minutes must be positive and --clients at least 1")
    return args


def _platform_env(var_dir: Path) -> tuple[dict, str]:
    """The platform's environment and a label of its backends."""
    env = Checkout("the platform", ROOT, var_dir).env()
    database = os.environ.get("BENCH_DATABASE_URL", "")
    if not database:
        return env, "SQLite, embedded cache"
    if ensure_database(database) is None:
        sys.exit(f"BENCH_DATABASE_URL={database} cannot be reached.")
    redis = os.environ.get("BENCH_REDIS_URL", "")
    env = platform_env(env, database_url=database, redis_url=redis)
    return env, "PostgreSQL" + (" + Redis" if redis else ", embedded cache")


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


async def _flap(server: Server, up: float, down: float, stop: asyncio.Event, events: list):
    """Stop and restart the flapping upstream on its schedule until `stop` is set."""
    origin = time.perf_counter()
    while not await _stopped(stop, up):
        await asyncio.to_thread(server.stop)
        events.append({"t": round(time.perf_counter() - origin, 1), "state": "down"})
        stopped = await _stopped(stop, down)
        server.start()
        await asyncio.to_thread(server.wait_listening)
        events.append({"t": round(time.perf_counter() - origin, 1), "state": "up"})
        if stopped:
            return


async def _sample(pid: int, every: float, done: asyncio.Event, samples: list) -> None:
    origin = time.perf_counter()
    while True:
        samples.append({"t": round(time.perf_counter() - origin, 1), **tree_rss(pid)})
        if await _stopped(done, every):
            return


async def _load(args, url: str, token: str, server: Server, flapping: Server) -> dict:
    calls, samples, flaps = [], [], []
    stop, done = asyncio.Event(), asyncio.Event()
    sampler = asyncio.create_task(_sample(server.process.pid, args.sample_seconds, done, samples))
    flapper = asyncio.create_task(_flap(flapping, args.flap_up, args.flap_down, stop, flaps))
    clients = [
        Client(
            f"c{i}",
            role,
            url=url,
            token=token,
            timeout=args.call_timeout,
            think=args.think_ms / 1000,
        )
        for i, role in enumerate(roles(args.clients))
    ]
    origin = time.perf_counter()
    running = [asyncio.create_task(c.run(calls, origin, stop)) for c in clients]
    deadline = args.minutes * 60
    while (elapsed := time.perf_counter() - origin) < deadline:
        await _stopped(stop, min(60.0, deadline - elapsed))
        elapsed = time.perf_counter() - origin
        healthy = [c for c in calls if c.target == "healthy"]
        print(
            f"  {elapsed / 60:5.1f} min: {len(calls)} calls, {len(healthy)} healthy, "
            f"RSS {(samples[-1]['server'] + samples[-1]['children']) / 2**20:.0f} MB",
            flush=True,
        )
    stop.set()
    print("  load stopped; waiting for the calls in flight", flush=True)
    await asyncio.gather(*running, flapper)
    done.set()
    await sampler
    return {"calls": calls, "samples": samples, "flaps": flaps, "seconds": deadline}


async def _first_call(url: str, token: str, timeout: float) -> None:
    """One healthy call must succeed before the soak starts (the gateway may first have to
    give up on the hanging upstream's catalog, hence the long timeout)."""
    import aiohttp

    client = Client("check", "healthy", url=url, token=token, timeout=timeout, think=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        call = await client.call(session, time.perf_counter())
    print(f"  first healthy call: {call.outcome} in {call.latency_ms:.0f} ms", flush=True)
    if call.outcome != "ok":
        raise ServerFailed(f"the first call to healthy__echo did not succeed: {call}")


def run(args, servers: list[Server], var_dir: Path, out: Path) -> int:
    env, backends = _platform_env(var_dir)
    print(
        f"Gatehouse soak: {args.minutes:g} min, {args.clients} clients, {backends}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; writing to {out}",
        flush=True,
    )
    py, upstream_urls, by_name = sys.executable, {}, {}
    for name in UPSTREAMS:
        port = free_port()
        argv = [py, "-m", "uvicorn", "soak_upstreams:app", "--app-dir", str(ROOT / "bench")]
        argv += ["--port", str(port), *UVICORN]
        kind = "healthy" if name == "flapping" else name
        upstream_env = {**os.environ, "SOAK_UPSTREAM_KIND": kind}
        by_name[name] = Server(name, argv, port=port, env=upstream_env, cwd=ROOT, log_dir=out)
        servers.append(by_name[name].start())
        upstream_urls[name] = f"http://127.0.0.1:{port}/mcp"
    for server in servers:
        server.wait_listening()

    slug = "soak-" + time.strftime("%Y%m%d%H%M%S")
    pairs = [f"{name}={url}" for name, url in upstream_urls.items()]
    access = child("soak_platform.py", ["provision", slug, *pairs], env)
    port = free_port()
    argv = [py, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    platform = Server("gateway", argv, port=port, env=env, cwd=ROOT, log_dir=out).start()
    servers.append(platform)
    platform.wait_listening()
    url = f"http://127.0.0.1:{port}{access['path']}"
    asyncio.run(_first_call(url, access["token"], args.call_timeout))

    loaded = asyncio.run(_load(args, url, access["token"], platform, by_name["flapping"]))
    calls, samples = loaded["calls"], loaded["samples"]
    stop_seconds = stop_gracefully(platform)
    print(f"  server stopped in {stop_seconds:.1f} s; reading the audit log", flush=True)
    audited = child("soak_platform.py", ["audit", slug], env)

    healthy = [c for c in calls if c.target == "healthy"]
    summary = {
        "started_at": out.name,
        "minutes": args.minutes,
        "backends": backends,
        "clients": roles(args.clients),
        "cpus": os.cpu_count(),
        "healthy": latency(healthy),
        "windows": windows(healthy, args.window_minutes * 60),
        "outcomes": outcomes(calls),
        "flaps": loaded["flaps"],
        "rss_samples": len(samples),
        "rss_mb": write_rss(out, samples),
        "server_stop_seconds": round(stop_seconds, 1),
        "audit": completeness(calls, audited),
        "p99_bar_ms": args.p99_bar_ms,
    }
    write_calls(out / "calls.csv", calls)
    p99 = summary["healthy"]["p99_ms"]
    failures = []
    if summary["audit"]["percent"] < 100:
        failures.append(f"audit completeness {summary['audit']['percent']}% < 100%")
    if p99 is None or p99 > args.p99_bar_ms:
        failures.append(f"healthy p99 {_shown(p99)} ms > bar {args.p99_bar_ms:g} ms")
    summary["failures"] = failures
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(table(summary))
    print()
    print("SOAK FAILED: " + "; ".join(failures) if failures else "SOAK PASSED")
    print(f"Written to {out}")
    return 1 if failures else 0


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f}"


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = _arguments()
    out = ROOT / "var" / "bench" / "soak" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    servers: list[Server] = []
    var_dir = Path(tempfile.mkdtemp(prefix="gatehouse-soak-"))
    try:
        return run(args, servers, var_dir, out)
    except ServerFailed as exc:
        print(f"\nSOAK FAILED: {exc}", file=sys.stderr)
        print(f"Server logs are in {out}/*.log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        return 130
    finally:
        stop_all(servers)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
