"""Ingest rate of the audit log writer, on SQLite and on PostgreSQL.

    .venv/bin/python bench/audit_ingest.py [--entries 50000]

Each backend runs in its own process (settings are read once per process): a fresh SQLite file
in a temporary GATEHOUSE_VAR_DIR, and the PostgreSQL database named by BENCH_DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/gatehouse_bench, created if missing; skipped when
the server is unreachable). The process migrates, creates a workspace, then records the entries
of whole tools/call exchanges (four hops each, with small JSON payloads) from 32 concurrent
asyncio tasks through `record_async`, exactly as the data plane does, and times:

* `enqueue µs`: the mean time a caller spends in `record_async` (the cost on the request path,
  back-pressure waits included);
* `entries/s`: entries committed per second, from the first call until `aflush()` returns
  (batched by the writer thread, hash chain and payload policy included).

The chain is verified at the end, so a fast but broken run cannot pass.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from exchange import exchange

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/gatehouse_bench"


def _measure(entries: int) -> None:
    """Child mode: measure on the database the environment names; print one result line."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from audit.log.chain import verify_workspace
    from audit.log.recorder import Recorder
    from teams.models import User
    from teams.services import create_workspace

    call_command("migrate", verbosity=0)
    suffix = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{suffix}@example.test")
    workspace = create_workspace(slug=f"bench-{suffix}", name="Bench", owner=owner)
    recorder = Recorder()
    calls = entries // 4
    spent = []

    async def client(n: int) -> None:
        for i in range(n):
            for entry in exchange(workspace.pk, owner.pk, owner.email, i):
                started = time.perf_counter()
                await recorder.record_async(entry)
                spent.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(client(calls // 32) for _ in range(32)))
        await recorder.aflush()
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    written = recorder.written
    verdict = verify_workspace(workspace.pk)
    if not verdict.ok or verdict.count != written:
        sys.exit(f"chain broken after the run: {verdict}")
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        f"{engine}\t{written}\t{settings.AUDIT_BATCH_SIZE}\t{elapsed:.2f}\t"
        f"{written / elapsed:.0f}\t{sum(spent) / len(spent) * 1e6:.1f}"
    )


def _ensure_database(url: str) -> bool:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {exc}".strip(), file=sys.stderr)
        return False
    return True


def _run(env: dict, entries: int) -> str:
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
    return result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.entries < 128:
        parser.error("--entries must be at least 128")
    if args.child:
        sys.path.insert(0, str(ROOT))
        _measure(args.entries)
        return
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base["PYTHONPATH"] = str(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as var_dir:
        rows.append(_run({**base, "GATEHOUSE_VAR_DIR": var_dir}, args.entries))
        pg = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
        if _ensure_database(pg):
            rows.append(
                _run({**base, "GATEHOUSE_VAR_DIR": var_dir, "DATABASE_URL": pg}, args.entries)
            )
    header = ("backend", "entries", "batch", "seconds", "entries/s", "enqueue µs")
    table = [header, *(tuple(row.split("\t")) for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
