"""The default rule set on the labelled corpus: every planted secret and piece of personal data
is redacted, wherever it sits (nested JSON, source files, logs), and nothing else changes."""

import asyncio
import json
from collections import Counter

import pytest

from bench.rules_corpus import PII_COPIES, SECRET_COPIES, build, planted_kinds
from bench.rules_corpus.scoring import forms
from bench.rules_corpus.values import DECOY_KINDS
from rules.definitions import RuleDefinition, clean_rule, default_rules
from rules.engine import compile_rules, evaluate


@pytest.fixture(scope="module")
def corpus():
    return build()


def default_set(*, redact_pii: bool):
    rules = default_rules()
    if redact_pii:
        for rule in rules:
            if rule["detector"] == "pii":
                rule["action"] = "redact"
    return compile_rules(
        RuleDefinition(id=i, workspace_id=1, **clean_rule(rule)) for i, rule in enumerate(rules, 1)
    )


def scan(compiled, payloads):
    async def each():
        return [
            await evaluate(
                compiled,
                direction="response",
                method="tools/call",
                tool_name="files__read",
                server_name="files",
                payload=payload,
            )
            for payload in payloads
        ]

    return asyncio.run(each())


def redacted(node, labels):
    """`node` with every planted value, as it is written there, replaced by its marker."""
    if isinstance(node, str):
        for label in labels:
            if label.planted:
                for form in forms(label.value):
                    node = node.replace(form, f"[REDACTED:{label.kind.upper()}]")
        return node
    if isinstance(node, dict):
        return {k: redacted(v, labels) for k, v in node.items()}
    if isinstance(node, list):
        return [redacted(v, labels) for v in node]
    return node


def holds(text: str, label) -> bool:
    return any(form in text for form in forms(label.value))


def test_the_corpus_is_deterministic_and_labelled(corpus):
    again = build()
    assert [r.jsonl() for r in again] == [r.jsonl() for r in corpus]
    planted = Counter(label.kind for r in corpus for label in r.labels if label.planted)
    assert set(planted) == set(planted_kinds())
    assert all(n >= min(SECRET_COPIES, PII_COPIES) for n in planted.values())
    assert {r.style for r in corpus} == {"json", "code", "log"}
    decoys = Counter(label.kind for r in corpus for label in r.labels if not label.planted)
    assert set(decoys) == set(DECOY_KINDS)
    for record in corpus:
        text = record.jsonl()
        assert all(holds(text, label) for label in record.labels)


def test_redaction_is_complete_and_changes_nothing_that_is_not_a_match(corpus):
    results = scan(default_set(redact_pii=True), [r.result for r in corpus])
    for i, (record, result) in enumerate(zip(corpus, results, strict=True)):
        text = json.dumps(result.payload, ensure_ascii=False)
        left = [label.kind for label in record.labels if label.planted and holds(text, label)]
        assert left == [], f"record {i} ({record.style}) still holds {left}"
        lost = [
            label.kind for label in record.labels if not label.planted and not holds(text, label)
        ]
        assert lost == [], f"record {i} ({record.style}) lost decoys {lost}"
        assert result.payload == redacted(record.result, record.labels), f"record {i}"


def test_the_default_set_redacts_secrets_and_flags_personal_data(corpus):
    results = scan(default_set(redact_pii=False), [r.result for r in corpus])
    secret_kinds = set(planted_kinds()) - {"email", "phone", "card", "ssn", "iban"}
    for record, result in zip(corpus, results, strict=True):
        planted = [label for label in record.labels if label.planted]
        secrets = [label for label in planted if label.kind in secret_kinds]
        personal = [label for label in planted if label.kind not in secret_kinds]
        text = json.dumps(result.payload, ensure_ascii=False)
        assert not any(holds(text, label) for label in secrets)
        assert all(holds(text, label) for label in personal)
        flagged = {
            kind
            for event in result.events
            if event["rule"] == "flag-pii"
            for kind in event["kinds"]
        }
        assert flagged == {label.kind for label in personal}
        assert result.modified is bool(secrets)


@pytest.mark.parametrize(
    "text",
    [
        'DB_PASSWORD = os.environ.get("DB_PASSWORD", "")',
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        # The digits up to the version nibble pass Luhn as a 13-digit Visa number.
        "request 41234567-8990-4b34-a567-890123456789 done",
    ],
)
def test_code_references_documented_examples_and_uuids_are_not_matches(text):
    [result] = scan(default_set(redact_pii=True), [{"content": [{"type": "text", "text": text}]}])
    assert result.events == []
