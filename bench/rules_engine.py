"""Cost of the rules engine per call, with the default rule set on.

    .venv/bin/python bench/rules_engine.py [--seconds 1.0]

Compiles `rules.definitions.default_rules()` (redact secrets both ways, flag PII, flag
prompt-injection phrases in responses) the way a gateway snapshot does, then times `evaluate()`
on a typical `tools/call` request (arguments) and a ~2 KB tool result (text content plus
structured content), each clean and with planted matches (a GitHub token, an email address, a
card number). Prints µs per evaluation (median of repeated runs), then the scan throughput in
MB/s over a 1 MB corpus of realistic tool results (JSON, code and log lines).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
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
            "Debug with AWS key AKIA" + "IOSFODNN7EXAMPLE"[:16] + " please.",
        )
    text = json.dumps(issues, indent=1)
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"issues": issues[:2], "total": 4},
        "isError": False,
    }


def corpus(size: int) -> list[str]:
    """Tool results as strings: JSON records, source code and log lines, a few planted values."""
    rng = random.Random(7)  # noqa: S311 - a reproducible corpus, not a secret
    words = [
        "deploy",
        "request",
        "user",
        "service",
        "timeout",
        "retry",
        "cache",
        "query",
        "index",
        "build",
        "release",
        "config",
        "merge",
        "branch",
        "commit",
        "review",
        "latency",
        "error",
        "warning",
        "payment",
        "invoice",
        "customer",
        "order",
    ]
    out, total = [], 0
    while total < size:
        kind = rng.randrange(3)
        if kind == 0:
            text = json.dumps(
                {
                    "id": rng.randrange(10**6),
                    "title": " ".join(rng.choices(words, k=8)),
                    "status": rng.choice(["open", "closed"]),
                    "updated": "2026-04-11T09:31:12Z",
                    "tags": rng.choices(words, k=3),
                }
            )
        elif kind == 1:
            text = "\n".join(
                f"def {rng.choice(words)}_{i}(self, {rng.choice(words)}):\n"
                f"    return self.{rng.choice(words)}.get({rng.randrange(100)})"
                for i in range(6)
            )
        else:
            text = "\n".join(
                f"2026-04-11 09:{i:02d}:12 INFO {rng.choice(words)} {rng.choice(words)} "
                f"took {rng.randrange(900)}ms status=200 bytes={rng.randrange(10**5)}"
                for i in range(10)
            )
        out.append(text)
        total += len(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
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

    texts = corpus(1 << 20)
    size = sum(len(t.encode()) for t in texts)
    payload = {"content": [{"type": "text", "text": t} for t in texts]}

    async def scan():
        start = time.perf_counter()
        await evaluate(
            compiled,
            direction="response",
            method="tools/call",
            tool_name="x",
            server_name="x",
            payload=payload,
        )
        return time.perf_counter() - start

    seconds = min(asyncio.run(scan()) for _ in range(3))
    mb = size / 1e6
    print(f"default rule set over {mb:.2f} MB of tool results: {mb / seconds:.1f} MB/s")


if __name__ == "__main__":
    main()
