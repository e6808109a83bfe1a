"""Ingest rate of the default audit writer (the writer process), on SQLite and on PostgreSQL.

    .venv/bin/python bench/audit_ingest.py [--entries 50000] [--rounds 3]

Each backend runs in its own process (settings are read once per process), with
`AUDIT_WRITER=process`: a fresh SQLite file in a temporary GATEHOUSE_VAR_DIR, and a fresh
PostgreSQL database named by BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/gatehouse_bench, dropped and created again; skipped when the
server is unreachable). The process migrates, creates a workspace, starts the writer and waits
until it is ready (as the ASGI lifespan does before taking traffic), then records the entries of
whole tools/call exchanges (four hops each, with small JSON payloads) from 32 concurrent asyncio
tasks through `audit.log.writer.record_async`, exactly as the data plane does, and times:

* `enqueue µs`: the mean time a caller spends in `record_async` (the cost on the request path,
  back-pressure waits included);
* `entries/s`: entries committed per second, from the first call until `aflush()` returns
  (forwarded to the writer process, batched, hash chain and payload policy included);
* `writer µs`: the writer process's CPU time per entry over the same span (from /proc), the
  steadier figure on a shared machine, where neighbours move the rate by a fifth or more.

The backends take turns `--rounds` times, each round in a fresh process and database, and the
table shows each backend's round with the median rate (all rounds' rates and CPU in the JSON):
one window in which the machine's neighbours took the CPUs cannot decide the verdict alone.
The chain is verified at the end of every round, so a fast but broken run cannot pass. Each
backend's median rate is checked against the bar (`BAR_ENTRIES_PER_SECOND`), and the results
are merged into var/bench/results.json under the key `audit_ingest` (other keys of that file
are kept).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from exchange import exchange
from process_tree import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/gatehouse_bench"
OUT_DIR = ROOT / "var" / "bench"
RESULTS_KEY = "audit_ingest"
BAR_ENTRIES_PER_SECOND = 20_000


def _measure(entries: int) -> None:
    """Child mode: measure on the database the environment names; print one JSON result line."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from audit.log import writer
    from audit.log.chain import verify_workspace
    from teams.models import User
    from teams.services import create_workspace

    call_command("migrate", verbosity=0)
    suffix = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{suffix}@example.test")
    workspace = create_workspace(slug=f"bench-{suffix}", name="Bench", owner=owner)
    recorder = writer.default_recorder()
    if not recorder.start(settings.AUDIT_WRITER_START_TIMEOUT_SECONDS):
        sys.exit("the audit writer did not become ready")
    calls = entries // 4
    spent = []

    async def client(n: int) -> None:
        for i in range(n):
            for entry in exchange(workspace.pk, owner.pk, owner.email, i):
                started = time.perf_counter()
                await writer.record_async(entry)
                spent.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(client(calls // 32) for _ in range(32)))
        await writer.aflush()
        return time.perf_counter() - started

    child = recorder._child.pid if getattr(recorder, "_child", None) else None
    cpu_before = cpu_seconds(child) if child else 0.0
    elapsed = asyncio.run(run())
    writer_cpu = cpu_seconds(child) - cpu_before if child else None
    written = recorder.written
    recorder.shutdown()
    verdict = verify_workspace(workspace.pk)
    if not verdict.ok or verdict.count != written:
        sys.exit(f"chain broken after the run: {verdict}")
    print(
        json.dumps(
            {
                "backend": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                "writer": type(recorder).__name__,
                "entries": written,
                "batch": settings.AUDIT_BATCH_SIZE,
                "seconds": round(elapsed, 2),
                "entries_per_second": round(written / elapsed),
                "enqueue_us": round(sum(spent) / len(spent) * 1e6, 1),
                "writer_cpu_us": round(writer_cpu / written * 1e6, 1) if writer_cpu else None,
            }
        )
    )


def _fresh_database(url: str) -> bool:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {exc}".strip(), file=sys.stderr)
        return False
    return True


def _run(env: dict, entries: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--entries", str(entries)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"the bench failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median_round(rounds: list[dict]) -> dict:
    """The round with the median rate, with every round's rate and writer CPU, judged."""
    row = dict(sorted(rounds, key=lambda r: r["entries_per_second"])[len(rounds) // 2])
    row["rounds_entries_per_second"] = [r["entries_per_second"] for r in rounds]
    row["rounds_writer_cpu_us"] = [r.get("writer_cpu_us") for r in rounds]
    row["bar"] = BAR_ENTRIES_PER_SECOND
    row["pass"] = row["entries_per_second"] >= BAR_ENTRIES_PER_SECOND
    return row


def _save(rows: list[dict]) -> Path:
    """Merge this bench's figures into results.json, keeping what other benches wrote there."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "results.json"
    try:
        results = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        results = {}
    if not isinstance(results, dict):
        results = {}
    results[RESULTS_KEY] = {"bar_entries_per_second": BAR_ENTRIES_PER_SECOND, "results": rows}
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.entries < 128:
        parser.error("--entries must be at least 128")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.child:
        sys.path.insert(0, str(ROOT))
        _measure(args.entries)
        return
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base.update(PYTHONPATH=str(ROOT), AUDIT_WRITER="process")
    pg = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    backends = {"sqlite": base}
    if _fresh_database(pg):
        backends["postgres"] = {**base, "DATABASE_URL": pg}
    rounds: dict[str, list[dict]] = {name: [] for name in backends}
    for turn in range(args.rounds):
        for name, env in backends.items():
            if name == "postgres" and turn and not _fresh_database(pg):
                sys.exit("the bench failed: PostgreSQL went away between rounds")
            with tempfile.TemporaryDirectory(prefix="audit-bench-") as var_dir:
                rounds[name].append(_run({**env, "GATEHOUSE_VAR_DIR": var_dir}, args.entries))
    rows = [_median_round(each) for each in rounds.values()]
    header = (
        "backend",
        "writer",
        "entries",
        "batch",
        "seconds",
        "entries/s",
        "enqueue µs",
        "writer µs",
        "rounds' entries/s",
        "bar",
    )
    table = [header]
    for row in rows:
        verdict = f"{'pass' if row['pass'] else 'FAIL'} (>= {row['bar']:,})"
        keys = ("backend", "writer", "entries", "batch", "seconds", "entries_per_second")
        cpu = row.get("writer_cpu_us")
        spread = ", ".join(f"{rate:,}" for rate in row["rounds_entries_per_second"])
        table.append(
            (
                *(str(row[k]) for k in keys),
                str(row["enqueue_us"]),
                str(cpu or "-"),
                spread,
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"\nWritten to {_save(rows)} (key {RESULTS_KEY!r})")


if __name__ == "__main__":
    main()
