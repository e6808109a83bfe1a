"""The three kinds of tool result in the corpus: JSON records, source files and logs.

Each style writes ordinary content (most of any record is clean), places the values planned for
the record where a real one would carry them (an `env` block, a settings module, a debug log
line), and scatters decoys through the rest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.rules_corpus.values import PII_KINDS, Planted, Planter

WORDS = [
    *("deploy", "request", "user", "service", "timeout", "retry", "cache", "query", "index"),
    *("build", "release", "config", "merge", "branch", "commit", "review", "latency", "error"),
    *("warning", "payment", "invoice", "customer", "order", "refund", "webhook", "queue"),
    *("worker", "shard", "replica", "migration", "schema", "rollout", "canary"),
]
SERVICES = ["billing", "checkout", "search", "auth", "ledger", "notifications", "catalog"]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n))


def text_result(text: str, structured: dict | None = None) -> dict:
    result: dict = {"content": [{"type": "text", "text": text}], "isError": False}
    if structured is not None:
        result["structuredContent"] = structured
    return result


def _secret_line(p: Planted, style: str) -> str:
    """One planted secret as a line of the given kind of file."""
    if p.kind == "authorization_header":
        return {
            "python": f'HEADERS = {{"Authorization": "{p.text}"}}',
            "env": f'CURL_HEADER="Authorization: {p.text}"',
            "yaml": f'  authorization: "{p.text}"',
            "log": f"DEBUG outgoing request headers={{'Authorization': '{p.text}'}}",
        }[style]
    if p.kind == "private_key":
        quoted = {"python": f'"""{p.text}"""', "log": p.text}.get(style, f'"{p.text}"')
        sep = {"python": " = ", "yaml": ": "}.get(style, "=")
        prefix = {"yaml": "  ", "log": "DEBUG loaded "}.get(style, "")
        return f"{prefix}{p.name}{sep}{quoted}"
    return {
        "python": f'{p.name} = "{p.text}"',
        "env": f"{p.name}={p.text}",
        "yaml": f'  {p.name}: "{p.text}"',
        "log": f"DEBUG loaded settings {p.name}={p.text} from environment",
    }[style]


def _pii_line(kind: str, value: str, style: str, rng: random.Random) -> str:
    name = {"email": "owner", "phone": "on_call_phone", "card": "test_card", "ssn": "applicant_ssn"}
    if style == "log":
        return {
            "email": f"INFO  user {value} signed in from 10.0.{rng.randrange(255)}.7",
            "phone": f"INFO  sms reminder queued for {value}",
            "card": f"WARN  payment declined for card {value} (insufficient funds)",
            "ssn": f"INFO  identity check passed for ssn {value}",
            "iban": f"INFO  payout scheduled to {value}",
        }[kind]
    key = name.get(kind, "payout_account")
    if style == "python":
        return f'{key.upper()} = "{value}"  # {words(rng, 3)}'
    if style == "env":
        return f'{key.upper()}="{value}"'
    return f'  {key}: "{value}"'


# -- JSON records --------------------------------------------------------------------------------


def render_json(rng: random.Random, planter: Planter, planted: list[str]) -> dict:
    """A search or list result of an issue tracker, CRM or deploy tool."""
    customers, env, notes = [], {}, []
    for kind in planted:
        if kind in PII_KINDS:
            value = planter.pii(kind)
            if kind in ("email", "phone"):
                customers.append({"id": planter.decoy("uuid"), kind: value, "tier": "gold"})
            else:
                notes.append(f"{words(rng, 4)} {value} {words(rng, 3)}")
        else:
            p = planter.secret(kind)
            env[p.name] = p.text
    issues = [
        {
            "number": rng.randrange(1000, 9999),
            "title": words(rng, 7).capitalize(),
            "state": rng.choice(["open", "closed"]),
            "labels": rng.sample(["bug", "p1", "p2", "infra", "billing"], 2),
            "head_sha": planter.decoy("git_sha"),
            "body": f"{words(rng, 20)}.\n\n{words(rng, 15)}.",
            "comments": rng.randrange(12),
        }
        for _ in range(rng.randrange(2, 5))
    ]
    record: dict = {
        "request_id": planter.decoy("uuid"),
        "service": rng.choice(SERVICES),
        "issues": issues,
        "deployment": {
            "image": f"registry.acme.io/{rng.choice(SERVICES)}@{planter.decoy('sha256_digest')}",
            "etag": planter.decoy("md5_etag"),
            "env": env,
        },
    }
    if customers:
        record["customers"] = customers
    if notes:
        record["notes"] = notes
    if rng.random() < 0.3:
        record["charge"] = {"id": planter.decoy("stripe_object_id"), "amount": rng.randrange(10**4)}
    if rng.random() < 0.1:
        record["preview"] = f"![chart]({planter.decoy('base64_image')})"
    return text_result(json.dumps(record, indent=2), record)


# -- Source files --------------------------------------------------------------------------------


def render_code(rng: random.Random, planter: Planter, planted: list[str]) -> dict:
    """A file read from a repository: a settings module, a .env file or a compose file."""
    style = rng.choice(["python", "env", "yaml"])
    planted_lines = [
        _pii_line(k, planter.pii(k), style, rng)
        if k in PII_KINDS
        else _secret_line(planter.secret(k), style)
        for k in planted
    ]
    if style == "python":
        lines = [
            '"""Settings of the service."""',
            "import os",
            "",
            f'BUILD_COMMIT = "{planter.decoy("git_sha")}"',
            f'DB_PASSWORD = os.environ.get("DB_PASSWORD", "{planter.decoy("placeholder")}")',
        ]
        for i in range(rng.randrange(4, 9)):
            lines += [
                "",
                f"def {rng.choice(WORDS)}_{i}(self, {rng.choice(WORDS)}):",
                f'    """{words(rng, 6).capitalize()}."""',
                f"    return self.{rng.choice(WORDS)}.get({rng.randrange(100)})",
            ]
        if rng.random() < 0.3:
            lines.append(
                f"# The AWS docs use {planter.decoy('aws_documented_example')} in examples."
            )
    elif style == "env":
        lines = [
            f"# {words(rng, 5)}",
            f"SERVICE={rng.choice(SERVICES)}",
            f"RELEASE_SHA={planter.decoy('git_sha')}",
            f"INSTANCE_ID={planter.decoy('uuid')}",
            f"API_KEY={planter.decoy('placeholder')}",
            f"LOG_LEVEL={rng.choice(['info', 'debug', 'warning'])}",
        ]
        if rng.random() < 0.3:
            lines.append(f"AWS_ACCESS_KEY_ID={planter.decoy('aws_documented_example')}")
    else:
        lines = [
            "services:",
            f"  {rng.choice(SERVICES)}:",
            f"    image: registry.acme.io/app@{planter.decoy('sha256_digest')}",
            "    environment:",
            f'      BUILD: "{planter.decoy("git_sha")}"',
            f'      INTEGRITY: "{planter.decoy("npm_integrity")}"',
            f'      ETAG: "{planter.decoy("md5_etag")}"',
        ]
    for line in planted_lines:
        lines.insert(rng.randrange(1, len(lines) + 1), line)
    return text_result("\n".join(lines) + "\n")


# -- Logs ----------------------------------------------------------------------------------------


def render_log(rng: random.Random, planter: Planter, planted: list[str]) -> dict:
    """The tail of a service's log."""
    lines = []
    for i in range(rng.randrange(12, 30)):
        ts = f"2026-04-11T09:{i % 60:02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z"
        pick = rng.random()
        if pick < 0.5:
            line = (
                f"INFO  [req {planter.decoy('uuid')}] {rng.choice(['GET', 'POST'])} "
                f"/api/v1/{rng.choice(WORDS)}/{rng.randrange(10**5)} 200 "
                f"{rng.randrange(900)}ms bytes={rng.randrange(10**5)}"
            )
        elif pick < 0.65:
            line = f"INFO  deploy {rng.choice(SERVICES)} at {planter.decoy('git_sha')}"
        elif pick < 0.75:
            line = f"DEBUG cache hit etag={planter.decoy('md5_etag')} key={rng.choice(WORDS)}"
        elif pick < 0.85:
            line = f"INFO  webhook {planter.decoy('stripe_object_id')} delivered"
        else:
            peer = f"10.0.{i}.{rng.randrange(255)}"
            line = f"WARN  {words(rng, 6)} retry={rng.randrange(5)} peer={peer}"
        lines.append(f"{ts} {line}")
    for kind in planted:
        if kind in PII_KINDS:
            line = _pii_line(kind, planter.pii(kind), "log", rng)
        else:
            line = _secret_line(planter.secret(kind), "log")
        lines.insert(rng.randrange(len(lines) + 1), f"2026-04-11T10:00:00.000Z {line}")
    return text_result("\n".join(lines))


@dataclass(frozen=True)
class Style:
    name: str
    render: Callable[[random.Random, Planter, list[str]], dict]


STYLES = (Style("json", render_json), Style("code", render_code), Style("log", render_log))
