"""The rules engine's cost per call, and its throughput beside detect-secrets'.

    .venv/bin/python bench/rules_engine.py [--seconds 1.0] [--repeat 3]   # make bench-rules

Compiles `rules.definitions.default_rules()` (redact secrets both ways, flag PII, flag
prompt-injection phrases in responses) the way a gateway snapshot does, then:

1. times `evaluate()` on a typical `tools/call` request (arguments) and a ~2 KB tool result
   (text content plus structured content), each clean and with planted matches; prints µs per
   evaluation (median of repeated runs);
2. scans the labelled corpus (`bench/rules_corpus`: JSON records, source files and logs as
   tool results) with `evaluate()`, one call per result as the gateway does, and with
   detect-secrets over the same results as JSON lines, taking turns in this run; the rule set
   runs twice, with its one multi-pattern scan per payload (Hyperscan, `rules/prefilter.py`)
   and the reference way (each rule locating alone, as without the `hyperscan` package);
   prints the MB/s of each (CPU time of this process, median of `--repeat` scans each) and
   the ratios, recall and precision per kind for both tools, and their false positives by
   decoy;
3. checks the bars: at least 100 MB/s or 100x detect-secrets' MB/s (and at least 20x),
   every result evaluated alike both ways (so recall and precision are unchanged), every
   planted value detect-secrets finds found too, at most a tenth of its false positives.
   Exits with status 1 when one is missed.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_ISSUE = {
    "number": 0,
    "title": "Intermittent 502 from the billing service after deploy",
    "state": "open",
    "labels": ["bug", "billing", "p2"],
    "author": "octocat",
    "created_at": "2026-04-11T09:31:12Z",
    "comments": 4,
    "body": "After the 14:00 deploy the checkout page returns 502 for about 3% of requests. "
    "Logs show upstream connect timeouts to the payments pool; rollback fixed it.",
}


def request_payload(dirty: bool) -> dict:
    arguments = {
        "repo": "acme/billing",
        "query": "is:open label:bug 502 checkout",
        "limit": 20,
        "include_comments": False,
    }
    if dirty:
        arguments["note"] = "use token " + "ghp_" + "x7Yz" * 9 + " and mail ops@acme.example"
    return {"name": "github__search_issues", "arguments": arguments, "_meta": {"progressToken": 7}}


def response_payload(dirty: bool) -> dict:
    issues = [dict(_ISSUE, number=1200 + i) for i in range(4)]
    if dirty:
        issues[1] = dict(
            issues[1],
            body="Card 4111 1111 1111 1111 was charged twice; contact jane.doe@example.com. "
            "Debug with AWS key AKIA" + "Q7ZT" * 4 + " please.",
        )
    text = json.dumps(issues, indent=1)
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"issues": issues[:2], "total": 4},
        "isError": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="corpus scans per scanner")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from rules.definitions import RuleDefinition, clean_rule, default_rules
    from rules.engine import compile_rules, evaluate

    definitions = [
        RuleDefinition(id=i, workspace_id=1, **clean_rule(rule))
        for i, rule in enumerate(default_rules(), 1)
    ]
    compiled = compile_rules(definitions)
    reference = compile_rules(definitions, multi_pattern=False)

    async def per_call(direction: str, payload: dict) -> tuple[float, dict]:
        async def once():
            return await evaluate(
                compiled,
                direction=direction,
                method="tools/call",
                tool_name="github__search_issues",
                server_name="github",
                team_slugs=("eng",),
                person_email="bob@acme.test",
                payload=payload,
            )

        result = await once()
        runs = []
        for _ in range(5):
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < args.seconds / 5:
                for _ in range(100):
                    await once()
                n += 100
            runs.append((time.perf_counter() - start) / n * 1e6)
        return statistics.median(runs), result

    async def run():
        print(f"{'case':<34} {'bytes':>6} {'µs/eval':>9}  events")
        for direction, build in (("request", request_payload), ("response", response_payload)):
            for dirty in (False, True):
                payload = build(dirty)
                size = len(json.dumps(payload))
                micros, result = await per_call(direction, payload)
                kinds = (
                    ", ".join(f"{e['rule']}:{sum(e['kinds'].values())}" for e in result.events)
                    or "-"
                )
                label = f"{direction} {'with matches' if dirty else 'clean'}"
                print(f"{label:<34} {size:>6} {micros:>9.1f}  {kinds}")

    asyncio.run(run())

    status = compare(compiled, reference, evaluate, repeat=args.repeat)
    sys.exit(status)


def compare(compiled, reference, evaluate, *, repeat: int) -> int:
    """Scan the labelled corpus with the default rule set and with detect-secrets, in turn, in
    this run; print both throughputs, the findings per kind, and whether the bars are met."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    from bench.rules_corpus import build, planted_kinds
    from bench.rules_corpus.scoring import (
        Tally,
        detect_secrets_findings,
        gatehouse_findings,
    )
    from bench.rules_corpus.values import PII_KINDS
    from rules import prefilter

    corpus = build()
    lines = [record.jsonl() for record in corpus]
    size = sum(len(line.encode()) + 1 for line in lines)
    mb = size / 1e6

    async def scan(payloads, rules=compiled) -> tuple[float, int]:
        start, count = time.process_time(), 0
        for payload in payloads:
            result = await evaluate(
                rules,
                direction="response",
                method="tools/call",
                tool_name="x",
                server_name="x",
                payload=payload,
            )
            count += sum(e["count"] for e in result.events)
        return time.process_time() - start, count

    async def parse_and_scan() -> float:
        start = time.process_time()
        for line in lines:
            await evaluate(
                compiled,
                direction="response",
                method="tools/call",
                tool_name="x",
                server_name="x",
                payload=json.loads(line),
            )
        return time.process_time() - start

    payloads = [json.loads(line) for line in lines]
    asyncio.run(scan(payloads))  # warm up: the first pass fills the engine's caches
    ours, ours_parsed, alone, theirs, theirs_found = [], [], [], [], None
    # The scanners take turns, so a machine that gets busier during the run slows both alike.
    with tempfile.TemporaryDirectory() as tmp, default_settings():
        path = Path(tmp) / "corpus.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        for _ in range(repeat):
            ours.append(asyncio.run(scan(payloads)))
            ours_parsed.append(asyncio.run(parse_and_scan()))
            alone.append(asyncio.run(scan(payloads, reference))[0])
            start = time.process_time()
            found = list(scan_file(str(path)))
            theirs.append(time.process_time() - start)
            theirs_found = theirs_found if theirs_found is not None else found
    ours_seconds = statistics.median(seconds for seconds, _ in ours)
    ours_parsed_seconds = statistics.median(ours_parsed)
    theirs_seconds = statistics.median(theirs)
    alone_seconds = statistics.median(alone)

    async def judged(rules) -> list:
        return [
            await evaluate(
                rules,
                direction="response",
                method="tools/call",
                tool_name="x",
                server_name="x",
                payload=payload,
            )
            for payload in payloads
        ]

    fast_results, reference_results = asyncio.run(judged(compiled)), asyncio.run(judged(reference))
    alike = sum(
        (a.payload, a.events, a.modified) == (b.payload, b.events, b.modified)
        for a, b in zip(fast_results, reference_results, strict=True)
    )

    gatehouse, detect_secrets = Tally(), Tally()
    by_line: dict[int, list] = {}
    for secret in theirs_found:
        by_line.setdefault(secret.line_number, []).append(secret)
    counted = 0
    for i, record in enumerate(corpus):
        findings = gatehouse_findings(compiled, payloads[i])
        counted += len(findings)
        gatehouse.record(i, record, findings)
        detect_secrets.record(i, record, detect_secrets_findings(lines[i], by_line.get(i + 1, [])))

    ours_rate, theirs_rate = mb / ours_seconds, mb / theirs_seconds
    ratio = ours_rate / theirs_rate
    print(
        f"\nlabelled corpus: {len(corpus)} tool results, {mb:.2f} MB of JSON lines, "
        f"{sum(gatehouse.planted.values())} planted values, median of {repeat} runs each"
    )
    print("| scanner | MB/s |\n|---|---:|")
    print(f"| default rule set (`evaluate`) | {ours_rate:.1f} |")
    print(f"| default rule set (`json.loads` + `evaluate`) | {mb / ours_parsed_seconds:.1f} |")
    print(f"| default rule set, reference locating (no Hyperscan) | {mb / alone_seconds:.1f} |")
    print(
        f"| detect-secrets {_version()} (`scan_file`, default plugins and filters) | "
        f"{theirs_rate:.2f} |"
    )
    print(f"\nratio: {ratio:.1f}x as many MB/s as detect-secrets")
    print(
        f"multi-pattern scan ({prefilter.ENGINE}): {alone_seconds / ours_seconds:.1f}x "
        "the reference way's MB/s"
    )

    print(
        "\n| kind | Gatehouse recall | Gatehouse precision "
        "| detect-secrets recall | detect-secrets precision |\n|---|---:|---:|---:|---:|"
    )
    secrets = [k for k in planted_kinds() if k not in PII_KINDS]
    # Then what a tool reported that is no planted kind (detect-secrets' high-entropy strings).
    others = sorted((set(gatehouse.false) | set(detect_secrets.false)) - set(planted_kinds()))
    rows = [(k, (k,)) for k in (*planted_kinds(), *others)]
    # A tool's findings of no planted kind are claims of a secret: they count against it here.
    rows += [("**all secrets**", (*secrets, *others)), ("**all personal data**", PII_KINDS)]
    for name, kinds in rows:
        print(
            f"| {name} | {gatehouse.recall(*kinds)} | {gatehouse.precision(*kinds)} "
            f"| {detect_secrets.recall(*kinds)} | {detect_secrets.precision(*kinds)} |"
        )
    ours_false, theirs_false = sum(gatehouse.false.values()), sum(detect_secrets.false.values())
    print("\n| false positives on | Gatehouse | detect-secrets |\n|---|---:|---:|")
    for what in sorted(set(gatehouse.false_by_decoy) | set(detect_secrets.false_by_decoy)):
        print(
            f"| {what} | {gatehouse.false_by_decoy[what]} | {detect_secrets.false_by_decoy[what]} |"
        )
    print(f"| **all** | {ours_false} | {theirs_false} |")

    missed = detect_secrets.found_values - gatehouse.found_values
    bars = [
        (
            f"at least 100 MB/s ({ours_rate:.1f}) or 100x detect-secrets' MB/s ({ratio:.1f}x)",
            ours_rate >= 100 or ratio >= 100,
        ),
        (f"at least 20x detect-secrets' MB/s ({ratio:.1f}x)", ratio >= 20),
        (
            "recall and precision unchanged: every result evaluated alike with and without "
            f"the multi-pattern scan ({alike} of {len(payloads)})",
            alike == len(payloads),
        ),
        (
            f"finds every planted value detect-secrets finds ({len(missed)} missed)",
            not missed,
        ),
        (
            f"at most a tenth of its false positives ({ours_false} vs {theirs_false})",
            ours_false * 10 <= theirs_false,
        ),
        (
            "the findings counted are the engine's own "
            f"({counted} counted, {ours[0][1]} in evaluate's events)",
            counted == ours[0][1],
        ),
    ]
    print()
    for text, ok in bars:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    for index, label in sorted(missed, key=lambda m: m[0])[:10]:
        print(f"  missed in record {index}: {label.kind}")
    return 0 if all(ok for _, ok in bars) else 1


def _version() -> str:
    from importlib.metadata import version

    return version("detect-secrets")


if __name__ == "__main__":
    main()
