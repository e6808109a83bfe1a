"""Peak memory of `manage.py export_logs` on 1,000,000 audit log rows, beside 10,000 rows.

    .venv/bin/python bench/export_memory.py [--rows 1000000] [--small-rows 10000] [--postgres]

Each backend runs on its own database: a fresh SQLite file in a temporary GATEHOUSE_VAR_DIR, and,
with `--postgres` or when BENCH_DATABASE_URL is set, PostgreSQL (default
postgres://postgres@127.0.0.1:5432/gatehouse_bench_export, created if missing and dropped at the
end if this run created it). For each:

1. **fill**: a child process migrates, creates two workspaces and fills them with `--rows` and
   `--small-rows` entries of whole tools/call exchanges (four hops with small JSON payloads, as
   bench/audit_ingest.py makes them), written by `audit.log.recorder.write_entries` in batches of
   BATCH entries: real rows, with the payload policy and the hash chain applied.
2. **export**: `manage.py export_logs --workspace W --format jsonl|csv -o FILE` for each workspace
   and format, each in its own child process, timed, with its peak RSS taken from the
   `ru_maxrss` that `os.wait4` reports for that child alone.
3. **check**: a file must hold one line per row (plus the header in CSV), and
   `audit.log.chain.verify_export` must verify it offline (both formats).

The bar: the export streams (`QuerySet.iterator`), so its memory must not grow with the rows.
The run exits with status 1 when a count or a verification fails, or when, for a format, the
peak RSS exporting `--rows` exceeds the peak exporting `--small-rows` by more than
MEMORY_BOUND_MB (50 MB). The temporary directory (database and exports) is deleted at the end.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from backends import drop_database, ensure_database
from exchange import exchange

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/gatehouse_bench_export"
BATCH = 4000
MEMORY_BOUND_MB = 50
FORMATS = ("jsonl", "csv")


def _setup_django() -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def _entries(workspace_id: int, user_id: int, email: str, rows: int):
    """`rows` entries of tools/call exchanges, four hops each (the last exchange may be cut)."""
    produced = 0
    for call in range(rows):
        for entry in exchange(workspace_id, user_id, email, call):
            if produced == rows:
                return
            yield {**entry, "at": time.time()}
            produced += 1


def _fill(rows: int, small_rows: int) -> None:
    """Child mode: migrate, fill a big and a small workspace; print one JSON line."""
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from audit.log.recorder import write_entries
    from teams.models import User
    from teams.services import create_workspace

    call_command("migrate", verbosity=0)
    suffix = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{suffix}@example.test")
    result = {"engine": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]}
    for size, count in (("small", small_rows), ("big", rows)):
        workspace = create_workspace(slug=f"{size}-{suffix}", name=size.title(), owner=owner)
        started = time.perf_counter()
        batch = []
        for entry in _entries(workspace.pk, owner.pk, owner.email, count):
            batch.append(entry)
            if len(batch) == BATCH:
                write_entries(batch)
                batch = []
        if batch:
            write_entries(batch)
        result[size] = {"slug": workspace.slug, "fill_seconds": time.perf_counter() - started}
    print(json.dumps(result))


def _verify(path: str) -> None:
    """Child mode: count the file's lines and verify it offline; print one JSON line."""
    _setup_django()
    from audit.log.chain import verify_export

    lines = 0
    with open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            lines += chunk.count(b"\n")
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as export:
        verdict = verify_export(export)
    print(
        json.dumps(
            {
                "lines": lines,
                "ok": verdict.ok,
                "count": verdict.count,
                "verdict": str(verdict),
                "verify_seconds": time.perf_counter() - started,
            }
        )
    )


def _child(args: list[str], env: dict, log: Path) -> tuple[float, float]:
    """Run a child to completion; return (wall seconds, its own peak RSS in MB)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        # wait4 reports the resource use of this child alone (RUSAGE_CHILDREN would keep the
        # largest peak of every child so far).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{' '.join(args[1:4])} failed:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def _last_json(log: Path) -> dict:
    return json.loads(log.read_text().strip().splitlines()[-1])


def _measure(env: dict, work: Path, rows: int, small_rows: int) -> list[dict]:
    """Fill, export and check on the database `env` names; one result per export."""
    log = work / "child.log"
    me = [sys.executable, __file__]
    _child([*me, "--child", "fill", "--rows", str(rows), "--small-rows", str(small_rows)], env, log)
    filled = _last_json(log)
    print(f"{filled['engine']}: filled {rows} rows in {filled['big']['fill_seconds']:.1f} s")
    results = []
    for export_format in FORMATS:
        for size, count in (("small", small_rows), ("big", rows)):
            out = work / f"{size}.{export_format}"
            command = [sys.executable, "manage.py", "export_logs", "--workspace"]
            command += [filled[size]["slug"], "--format", export_format, "-o", str(out)]
            seconds, peak = _child(command, env, log)
            _child([*me, "--child", "verify", str(out)], env, log)
            checked = _last_json(log)
            expected = count + (export_format == "csv")
            result = {
                "backend": filled["engine"],
                "format": export_format,
                "rows": count,
                "fill_seconds": round(filled[size]["fill_seconds"], 2),
                "export_seconds": round(seconds, 2),
                "peak_rss_mb": round(peak, 1),
                "file_mb": round(out.stat().st_size / 2**20, 1),
                "lines": checked["lines"],
                "lines_ok": checked["lines"] == expected,
                "verified": checked["ok"] and checked["count"] == count,
                "verdict": checked["verdict"],
                "verify_seconds": round(checked["verify_seconds"], 2),
            }
            results.append(result)
            print(
                f"  {export_format} {count} rows: {seconds:.1f} s, peak {peak:.1f} MB, "
                f"{checked['verdict']}",
                flush=True,
            )
            out.unlink()
    return results


def _report(results: list[dict]) -> list[str]:
    """Print the table and the growth per backend and format; return the failures."""
    header = ("backend", "format", "rows", "export s", "peak RSS MB", "file MB", "lines", "chain")
    table = [header]
    for r in results:
        table.append(
            (
                r["backend"],
                r["format"],
                str(r["rows"]),
                f"{r['export_seconds']:.1f}",
                f"{r['peak_rss_mb']:.1f}",
                f"{r['file_mb']:.1f}",
                str(r["lines"]) + ("" if r["lines_ok"] else " (wrong)"),
                "verified" if r["verified"] else "BROKEN",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    failures = [
        f"{r['backend']} {r['format']} {r['rows']} rows: {r['lines']} lines, {r['verdict']}"
        for r in results
        if not (r["lines_ok"] and r["verified"])
    ]
    growth = []
    for small, big in zip(results[::2], results[1::2], strict=True):
        grew = big["peak_rss_mb"] - small["peak_rss_mb"]
        ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
        growth.append(
            {
                "backend": small["backend"],
                "format": small["format"],
                "grew_mb": round(grew, 1),
                "ratio": round(ratio, 3),
            }
        )
        print(
            f"{small['backend']} {small['format']}: {big['rows']} rows peak "
            f"{big['peak_rss_mb']:.1f} MB vs {small['rows']} rows {small['peak_rss_mb']:.1f} MB "
            f"(+{grew:.1f} MB, ratio {ratio:.2f}; bound +{MEMORY_BOUND_MB} MB)"
        )
        if grew > MEMORY_BOUND_MB:
            failures.append(f"{small['backend']} {small['format']}: peak grew by {grew:.1f} MB")
    print(json.dumps({"results": results, "growth": growth, "bound_mb": MEMORY_BOUND_MB}))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--child", choices=("fill", "verify"), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "fill":
        _fill(args.rows, args.small_rows)
        return
    if args.child == "verify":
        _verify(args.path)
        return
    if not 0 < args.small_rows <= args.rows:
        parser.error("--small-rows must be positive and at most --rows")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base["PYTHONPATH"] = str(ROOT)
    results = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as var_dir:
        work = Path(var_dir)
        sqlite = {**base, "GATEHOUSE_VAR_DIR": var_dir}
        results += _measure(sqlite, work, args.rows, args.small_rows)
        for database_file in work.glob("gatehouse.sqlite3*"):
            database_file.unlink()
        pg = os.environ.get("BENCH_DATABASE_URL") or (DEFAULT_PG if args.postgres else "")
        created = ensure_database(pg) if pg else None
        if created is not None:
            env = {**base, "GATEHOUSE_VAR_DIR": var_dir, "DATABASE_URL": pg}
            try:
                results += _measure(env, work, args.rows, args.small_rows)
            finally:
                if created:
                    drop_database(pg)
    failures = _report(results)
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
