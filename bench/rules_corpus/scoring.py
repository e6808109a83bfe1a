"""Counting two tools' findings against the corpus's labels: recall and precision per kind.

A finding is true when it overlaps a planted value, false otherwise. A true finding counts
towards the kind of the planted value it overlaps, a false one towards the kind the tool gave it
(detect-secrets' types are named by the kind they mean, below), and is also tallied by the
decoy it hit, if any. A planted value is found when at least one finding overlaps it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.rules_corpus import Record
from bench.rules_corpus.values import Label
from rules import actions
from rules.engine import CompiledRuleSet

# detect-secrets' finding types, by the corpus kind each one means.
DETECT_SECRETS_KINDS = {
    "AWS Access Key": "aws_access_key_id",
    "Azure Storage Account access key": "azure_storage_connection_string",
    "Basic Auth Credentials": "credentials_in_url",
    "Discord Bot Token": "discord_bot_token",
    "GitHub Token": "github_pat",
    "GitLab Token": "gitlab_pat",
    "JSON Web Token": "jwt",
    "Mailchimp Access Key": "mailchimp_api_key",
    "NPM tokens": "npm_token",
    "OpenAI Token": "openai_api_key",
    "Private Key": "private_key",
    "PyPI Token": "pypi_token",
    "SendGrid API Key": "sendgrid_api_key",
    "Slack Token": "slack_bot_token",
    "Square OAuth Secret": "square_oauth_secret",
    "Stripe Access Key": "stripe_secret_key",
    "Telegram Bot Token": "telegram_bot_token",
    "Twilio API Key": "twilio_api_key",
    "Secret Keyword": "password_assignment",
    "Base64 High Entropy String": "high-entropy string",
    "Hex High Entropy String": "high-entropy string",
    "Public IP (ipv4)": "public IP",
}


def forms(value: str) -> list[str]:
    """A value as it is written in a string, in JSON text, and in JSON text inside JSON."""
    out = [value]
    for _ in range(2):
        value = json.dumps(value, ensure_ascii=False)[1:-1]
        out.append(value)
    return list(dict.fromkeys(out))


def occurrences(text: str, needle: str) -> Iterator[tuple[int, int]]:
    at = text.find(needle)
    while at != -1:
        yield at, at + len(needle)
        at = text.find(needle, at + 1)


@dataclass
class Tally:
    """One tool's findings over the corpus."""

    planted: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    true: Counter = field(default_factory=Counter)
    false: Counter = field(default_factory=Counter)
    false_by_decoy: Counter = field(default_factory=Counter)
    found_values: set = field(default_factory=set)

    def record(self, index: int, record: Record, findings: list[tuple[str, str, list]]) -> None:
        """`findings`: (kind, text, spans) where spans are the places in `text` the finding
        may be (one, or every occurrence of a value a tool reports without its position)."""
        hit: set[Label] = set()
        for kind, text, spans in findings:
            spans_by_label = {
                label: [s for f in forms(label.value) for s in occurrences(text, f)]
                for label in record.labels
            }
            planted = _overlapping(spans, spans_by_label, planted=True)
            if planted is not None:
                hit.add(planted)
                self.true[planted.kind] += 1
                continue
            self.false[kind] += 1
            decoy = _overlapping(spans, spans_by_label, planted=False)
            self.false_by_decoy[decoy.kind if decoy else "other text"] += 1
        for label in record.labels:
            if label.planted:
                self.planted[label.kind] += 1
                if label in hit:
                    self.found[label.kind] += 1
                    self.found_values.add((index, label))

    def recall(self, *kinds: str) -> str:
        planted = sum(self.planted[k] for k in kinds)
        return f"{sum(self.found[k] for k in kinds)}/{planted}" if planted else "-"

    def precision(self, *kinds: str) -> str:
        true = sum(self.true[k] for k in kinds)
        findings = true + sum(self.false[k] for k in kinds)
        return f"{true / findings:.0%}" if findings else "-"


def _overlapping(spans, spans_by_label, *, planted: bool) -> Label | None:
    for label, label_spans in spans_by_label.items():
        if label.planted is not planted:
            continue
        for start, end in spans:
            if any(start < e and s < end for s, e in label_spans):
                return label
    return None


def _strings(node, key) -> Iterator[tuple[str, str | None]]:
    """The strings of a payload with the key each sits under, as the engine walks them."""
    if isinstance(node, str):
        if node:
            yield node, key
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "blob" or (k == "data" and "mimeType" in node):
                continue
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)


def gatehouse_findings(compiled: CompiledRuleSet, payload: dict) -> list[tuple[str, str, list]]:
    """What the response rules find in `payload`, each rule seeing the text as the rules
    before it left it (so a secret redacted by an earlier rule is not found again)."""
    rules = [
        r
        for r in compiled.rules_for("response", None)
        if r.detector.scope == "text" and not r.detector.is_async
    ]
    findings = []
    for text, key in _strings(payload, None):
        for rule in rules:
            matches = rule.detector.find(text, key)
            findings += [(m.kind, text, [(m.start, m.end)]) for m in matches]
            if matches and rule.enforce and rule.action in actions.REWRITING:
                text = actions.rewrite(text, matches, rule.action, rule.action_config, b"")
    return findings


def detect_secrets_findings(line: str, secrets) -> list[tuple[str, str, list]]:
    """detect-secrets reports a value and its line, not where in the line it is: a finding
    counts as true when any occurrence of its value overlaps a planted value."""
    out = []
    for secret in secrets:
        kind = DETECT_SECRETS_KINDS.get(secret.type, secret.type)
        value = secret.secret_value or ""
        out.append((kind, line, list(occurrences(line, value)) if value else []))
    return out
