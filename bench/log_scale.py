"""The log viewer, search, timeline and export on a large log table (PostgreSQL, partitioned).

    .venv/bin/python bench/log_scale.py [--rows 10000000] [--days 90] [--keep] [--reuse]
                                        [--database-url URL] [--explain]

1. **fill**: a fresh PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/gatehouse_bench_log, or BENCH_DATABASE_URL) is migrated,
   so the log table is partitioned by day, and gets 20 workspaces, one day partition per day of
   the last `--days`, and `--rows` log entries made by `INSERT ... SELECT` over
   `generate_series`, one statement per day: whole calls of four hops, spread evenly over the
   days; half the calls in the measured workspace, the rest over 19 others; 5 gateways, 40
   tools on 5 servers and 200 people per workspace; 2% of calls failing upstream, 0.5% blocked,
   10% `tools/list`; small JSON payloads on every hop. Each workspace's `seq` runs 1, 2, 3...
   in time order, as the writer makes it; digests are filler (the bench reads, it does not
   verify), so the rows come from SQL and not from the writer, which is measured by
   bench/audit_ingest.py.
2. **measure**, in the measured workspace, each operation `REPEAT` times through the code the
   viewer and the export run (`audit.log.selectors`, `audit.log.call_pages`,
   `audit.log.export`): the first page of calls and of hops, the second page, first pages
   filtered by person, gateway, tool and outcome, searches (`q`), a call's timeline, and
   filtered exports (JSON Lines, with payloads, every line made). It prints the first run and
   the median of the rest, in milliseconds, and for exports the rows and rows per second.

`--reuse` measures a database an earlier `--keep` run filled; `--explain` prints the plan of
each operation's queries. The database is dropped at the end unless `--keep`.
"""

import argparse
import hashlib
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backends import drop_database, ensure_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/gatehouse_bench_log"
WORKSPACES = 20
REPEAT = 5

# One row per (call c, hop h); the measured workspace takes the even calls, the other 19 share
# the odd ones, each workspace's seq counting its own calls' hops in order.
FILL_SQL = """
INSERT INTO audit_logentry (
    workspace_id, seq, at, hop, correlation_id, gateway_id, gateway_slug, assignment_id,
    server_id, server_name, user_id, user_email, token_id, session, client_name, client_version,
    rpc_method, rpc_id, tool, upstream_tool, outcome, error_code, error_message, latency_ms,
    request_bytes, response_bytes, tokens_estimate, identity_scheme, payload_state, payload,
    detail, prev_digest, digest)
SELECT
    (%(workspaces)s::bigint[])[CASE WHEN c %% 2 = 0 THEN 1 ELSE 2 + (c / 2) %% 19 END],
    CASE WHEN c %% 2 = 0 THEN (c / 2) * 4 ELSE (c / 2 / 19) * 4 END + h + 1,
    %(start)s::timestamptz + make_interval(secs => c * %(step)s + h * 0.002),
    (ARRAY['client.request', 'upstream.request', 'upstream.response', 'client.response'])[h + 1],
    md5('call' || c)::uuid,
    100 + (c / 3) %% 5, 'gateway-' || (c / 3) %% 5, 300 + (c * 31) %% 40 / 8,
    200 + (c * 31) %% 40 / 8, 'server-' || (c * 31) %% 40 / 8,
    1000 + (c * 7919) %% 200, 'person' || (c * 7919) %% 200 || '@example.test', 11,
    md5('session' || c / 20), (ARRAY['claude-code', 'cursor', 'vscode'])[c %% 3 + 1], '1.0',
    CASE WHEN c %% 10 = 6 THEN 'tools/list' ELSE 'tools/call' END, c::text,
    'server' || (c * 31) %% 40 / 8 || '__tool_' || (c * 31) %% 40, 'tool_' || (c * 31) %% 40,
    CASE WHEN c %% 50 = 8 AND h >= 2 THEN 'error'
         WHEN c %% 200 = 4 AND h = 3 THEN 'blocked' ELSE 'ok' END,
    CASE WHEN c %% 50 = 8 AND h >= 2 THEN -32603 END,
    CASE WHEN c %% 50 = 8 AND h >= 2 THEN
        (ARRAY['upstream timed out after 30s', 'permission denied by upstream'])[c %% 2 + 1]
        ELSE '' END,
    CASE WHEN h >= 2 THEN (c %% 997) / 10.0 END, 100 + c %% 500, 200 + c %% 900,
    CASE WHEN h = 3 THEN 50 + c %% 300 END, 'service_account', 'full',
    CASE WHEN h < 2 THEN jsonb_build_object('name', 'tool_' || (c * 31) %% 40,
                                            'arguments', jsonb_build_object('q', 'q' || c %% 1000))
         ELSE jsonb_build_object('content', jsonb_build_array(
                  jsonb_build_object('type', 'text', 'text', 'result ' || c))) END,
    '{}'::jsonb, md5('p' || c || h) || md5('q' || c || h), md5('d' || c || h) || md5('e' || c || h)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS c, generate_series(0, 3) AS h
"""


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _call_uuid(c: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"call{c}".encode()).hexdigest())  # noqa: S324 (filler ids)


def _fill(rows: int, days: int, end: datetime) -> list[int]:
    """Workspaces, day partitions and rows; returns the workspace ids, the measured one first."""
    from django.core.management import call_command
    from django.db import connection

    from audit.log import partitions
    from teams.models import User
    from teams.services import create_workspace

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user(email="owner@example.test")
    workspaces = [
        create_workspace(slug=f"ws-{n}", name=f"Workspace {n}", owner=owner).pk
        for n in range(WORKSPACES)
    ]
    start = end - timedelta(days=days)
    for day in range(days + 1):
        partitions.create_partition(partitions.day_of(start) + timedelta(days=day))
    partitions.ensure_partitions(now=end)
    calls = rows // 4
    step = days * 86400 / calls
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for day in range(days):
            first, last = day * calls // days, (day + 1) * calls // days - 1
            cursor.execute(
                FILL_SQL,
                {
                    "workspaces": workspaces,
                    "start": start,
                    "step": step,
                    "first": first,
                    "last": last,
                },
            )
            done = (last + 1) * 4
            rate = done / (time.perf_counter() - started)
            print(f"  filled {done:,} rows ({rate:,.0f} rows/s)", end="\r", flush=True)
        cursor.execute("ANALYZE audit_logentry")
    print(f"\nfill: {calls * 4:,} rows in {time.perf_counter() - started:,.0f} s")
    return workspaces


def _explain(queries) -> None:
    """Each query's plan in one line: its top node, the partitions it reads, the indexes used."""
    from django.db import connection

    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or "pg_" in sql:
                continue
            cursor.execute("EXPLAIN " + sql)
            plan = [row[0] for row in cursor.fetchall()]
            text = "\n".join(plan)
            read = set(re.findall(r" on (audit_logentry_(?:p\d{8}|default))\b", text))
            used = set(
                re.findall(r"(?:using|Index Scan on) audit_logentry_(?:p\d{8}|default)_(\w+)", text)
            )
            print(
                f"      {plan[0].strip().split('  ')[0]}: {len(read)} partitions, "
                f"indexes: {', '.join(sorted(used)) or 'none'}"
            )


def _time(name: str, operation, *, explain: bool, rows=None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    for _attempt in range(REPEAT):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            count = operation()
            timings.append((time.perf_counter() - started) * 1000)
    first, median = timings[0], statistics.median(timings[1:])
    line = f"  {name:<52} first {first:9.1f} ms   median {median:9.1f} ms"
    if rows is not None:
        line += f"   {count:>9,} rows  {count / (median / 1000):>9,.0f} rows/s"
    print(line)
    if explain:
        _explain(captured.captured_queries)
    return {"name": name, "first_ms": first, "median_ms": median, "rows": count}


def _measure(workspace_id: int, *, calls: int, explain: bool) -> list[dict]:
    from audit.log import call_pages, selectors
    from audit.log.export import export_logs
    from audit.log.views import CALLS_PER_PAGE, ENTRIES_PER_PAGE
    from teams.models import User, Workspace

    workspace = Workspace.objects.get(pk=workspace_id)
    owner = User.objects.get(email="owner@example.test")
    now = datetime.now(UTC)

    def calls_page(cursor="", **params):
        matching = selectors.filtered_entries(workspace, selectors.parse_filter(params))
        return call_pages.calls_page(
            workspace, matching, cursor=cursor, size=CALLS_PER_PAGE, with_payloads=True
        )

    def hops_page(cursor="", **params):
        matching = selectors.filtered_entries(workspace, selectors.parse_filter(params))
        return selectors.entries_page(matching, cursor=cursor, size=ENTRIES_PER_PAGE)

    def export(**params):
        lines = export_logs(
            workspace=workspace,
            actor=owner,
            log_filter=selectors.parse_filter(params),
            export_format="jsonl",
            with_payloads=True,
            via="bench",
        )
        return sum(1 for _ in lines)

    second_calls = calls_page()[1]
    second_hops = hops_page()[1]
    middle = _call_uuid((calls // 2) // 2 * 2)
    week = (now - timedelta(days=7)).isoformat()
    operations = [
        ("viewer, calls: first page", lambda: len(calls_page()[0])),
        ("viewer, calls: second page", lambda: len(calls_page(second_calls)[0])),
        ("viewer, hops: first page", lambda: len(hops_page()[0])),
        ("viewer, hops: second page", lambda: len(hops_page(second_hops)[0])),
        ("viewer, calls: person", lambda: len(calls_page(person="person18@example.test")[0])),
        ("viewer, calls: gateway", lambda: len(calls_page(gateway="gateway-3")[0])),
        ("viewer, calls: tool", lambda: len(calls_page(tool="server3__tool_26")[0])),
        ("viewer, calls: outcome=error", lambda: len(calls_page(outcome="error")[0])),
        (
            "viewer, calls: last day of 30 days ago",
            lambda: len(
                calls_page(
                    since=(now - timedelta(days=31)).isoformat(),
                    until=(now - timedelta(days=30)).isoformat(),
                )[0]
            ),
        ),
        ("search q='timed out'", lambda: len(calls_page(q="timed out")[0])),
        ("search q='tool_26'", lambda: len(calls_page(q="tool_26")[0])),
        (
            "search q='no such text', last 7 days",
            lambda: len(calls_page(q="no such text", since=week)[0]),
        ),
        ("timeline of one call", lambda: len(selectors.call_timeline(workspace, middle).hops)),
    ]
    results = [_time(name, op, explain=explain) for name, op in operations]
    exports = [
        ("export: one person, all time", {"person": "person18@example.test"}),
        ("export: one gateway, last 7 days", {"gateway": "gateway-3", "since": week}),
        ("export: errors, all time", {"outcome": "error"}),
    ]
    for name, params in exports:
        results.append(_time(name, lambda p=params: export(**p), explain=explain, rows=True))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure an earlier --keep run's")
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    args = parser.parse_args()

    url = args.database_url
    if not args.reuse:
        drop_database(url)
    created = ensure_database(url)
    if created is None:
        sys.exit("PostgreSQL does not answer: this benchmark needs it")
    _setup_django(url)
    from django.db import connection

    from teams.models import Workspace

    try:
        if args.reuse:
            workspaces = list(Workspace.objects.order_by("pk").values_list("pk", flat=True))
        else:
            workspaces = _fill(args.rows, args.days, datetime.now(UTC))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM audit_logentry")
            (total,) = cursor.fetchone()
            cursor.execute(
                "SELECT count(*) FROM audit_logentry WHERE workspace_id = %s", [workspaces[0]]
            )
            (measured,) = cursor.fetchone()
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
                "WHERE relname = 'audit_logentry'"
            )
            cursor.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
                "WHERE inhparent = 'audit_logentry'::regclass"
            )
            (size,) = cursor.fetchone()
        print(f"table: {total:,} rows ({size} with indexes), measured workspace: {measured:,}")
        _measure(workspaces[0], calls=total // 4, explain=args.explain)
    finally:
        connection.close()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
