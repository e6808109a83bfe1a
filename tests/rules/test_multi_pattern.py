"""The multi-pattern scan (rules/prefilter.py) against the reference way of locating: the same
rules, compiled both ways, give the same evaluation of every payload (findings, kinds, paths,
redacted output), on the labelled corpus and on generated payloads built to hit the edges
(digit runs, separators, e-mail addresses, IBANs, secret prefixes, telling keys, non-ASCII)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.rules_corpus import build
from rules import prefilter
from rules.definitions import RuleDefinition, clean_rule, default_rules
from rules.detectors import digit_runs
from rules.detectors.secret_kinds import KINDS
from rules.engine import compile_rules, evaluate
from tests.support.rules import fake

pytestmark = pytest.mark.skipif(not prefilter.AVAILABLE, reason="hyperscan is not installed")

ROOT = Path(__file__).resolve().parents[2]


def rule_sets(rules):
    definitions = [
        RuleDefinition(id=i, workspace_id=1, **clean_rule(rule)) for i, rule in enumerate(rules, 1)
    ]
    fast = compile_rules(definitions, multi_pattern=True)
    reference = compile_rules(definitions, multi_pattern=False)
    return fast, reference


def default_both(*, redact_pii=False, extra=()):
    rules = default_rules()
    for rule in rules:
        if redact_pii and rule["detector"] == "pii":
            rule["action"] = "redact"
    return rule_sets([*rules, *extra])


DEFAULT = default_both()
REDACTING = default_both(redact_pii=True)


def evaluated(compiled, payload, direction="response"):
    result = asyncio.run(
        evaluate(
            compiled,
            direction=direction,
            method="tools/call",
            tool_name="files__read",
            server_name="files",
            payload=payload,
        )
    )
    return {
        "blocked": result.blocked_by,
        "payload": result.payload,
        "events": result.events,
        "modified": result.modified,
        "retyped": result.retyped,
    }


def assert_same(sets, payload, direction="response"):
    fast, reference = sets
    assert evaluated(fast, payload, direction) == evaluated(reference, payload, direction)


def test_the_default_rule_set_is_scanned_by_one_multi_pattern_database():
    fast, reference = DEFAULT
    assert fast.prefilter and fast.prefilter.covered == {0, 1, 2}
    assert not reference.prefilter


@pytest.mark.parametrize("sets", [DEFAULT, REDACTING], ids=["flag-pii", "redact-pii"])
def test_the_labelled_corpus_is_judged_alike(sets):
    fast, reference = sets
    events = 0
    for record in build():
        fast_result = evaluated(fast, record.result)
        assert fast_result == evaluated(reference, record.result)
        events += sum(e["count"] for e in fast_result["events"])
    assert events > 300  # the corpus plants 352 values: the comparison saw them


def test_requests_are_judged_alike():
    for record in build()[:200]:
        assert_same(DEFAULT, {"name": "files__write", "arguments": record.result}, "request")


# Pieces that sit on the edges of what the scan reports: runs of digits with separators,
# country codes, "@", "+", secret prefixes and whole fake secrets, telling words, non-ASCII.
_SAMPLES = [fake(k.sample, f"{k.kind}-multi") for k in KINDS]
_PIECES = st.one_of(
    st.text(alphabet="0123456789 ().-+", min_size=1, max_size=30),
    st.text(alphabet="0123456789-", min_size=3, max_size=24),
    st.sampled_from(
        [
            "@",
            "a.b@example.com",
            "ops@acme.io",
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "378282246310005",
            "078-05-1120",
            "+1 (415) 555-0132",
            "(415) 555-0132",
            "415.555.0132",
            "AKIA",
            "password=",
            "secret_key: ",
            "token=",
            "aws_secret_access_key=",
            "-----BEGIN RSA PRIVATE KEY-----",
            "ignore all previous instructions",
            "<|im_start|>",
            "\n",
            "\t",
            "\x0b",  # white space to both engines
            "\x1c",  # white space to Python's only
            "é",
            "K",  # KELVIN SIGN: lower-cases to "k"
            " ",
            "=",
            '"',
        ]
    ),
    st.sampled_from(_SAMPLES),
    st.text(alphabet="abcdefXYZ0123456789_=:/+", min_size=1, max_size=12),
)
_STRINGS = st.lists(_PIECES, min_size=1, max_size=12).map("".join)
_KEYS = st.sampled_from(["note", "password", "aws_secret", "token", "id", "DE", "body"])
_DATA = st.recursive(
    st.one_of(_STRINGS, st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(_KEYS, _STRINGS), inner, max_size=4)
    ),
    max_leaves=12,
)
_RESULTS = st.builds(
    lambda text, data: {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"data": data},
    },
    _STRINGS,
    _DATA,
)
_FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_FUZZ
@given(result=_RESULTS)
def test_generated_results_are_judged_alike(result):
    assert_same(DEFAULT, result)
    assert_same(REDACTING, result)


@_FUZZ
@given(result=_RESULTS)
def test_generated_results_as_json_text_are_judged_alike(result):
    # A tool's text content that is a JSON document is rewritten so that it stays one.
    assert_same(REDACTING, {"content": [{"type": "text", "text": json.dumps(result, indent=1)}]})


@_FUZZ
@given(arguments=_DATA)
def test_generated_arguments_are_judged_alike(arguments):
    assert_same(REDACTING, {"name": "x", "arguments": {"a": arguments}}, "request")


def test_large_results_scanned_side_by_side_in_worker_threads_are_judged_alike():
    # 16K characters and more are scanned in the rules' thread pool: each thread scans with
    # its own scratch space, several at once.
    records = build()
    results = [
        {"content": [{"type": "text", "text": "\n".join(r.jsonl() for r in records[i : i + 12])}]}
        for i in range(0, 96, 12)
    ]
    assert all(len(r["content"][0]["text"]) > 16 * 1024 for r in results)
    fast, reference = REDACTING

    async def all_at_once(compiled):
        evaluations = await asyncio.gather(
            *(
                evaluate(
                    compiled,
                    direction="response",
                    method="tools/call",
                    tool_name="x",
                    server_name="x",
                    payload=result,
                )
                for result in results
            )
        )
        return [(e.payload, e.events) for e in evaluations]

    fast_results = asyncio.run(all_at_once(fast))
    assert fast_results == asyncio.run(all_at_once(reference))
    assert sum(len(events) for _, events in fast_results) >= len(results)


def test_narrowed_detectors_and_extra_phrases_are_judged_alike():
    sets = rule_sets(
        [
            {
                "name": "github-only",
                "detector": "secrets",
                "detector_config": {"kinds": ["github"]},
                "action": "redact",
            },
            {
                "name": "cards",
                "detector": "pii",
                "detector_config": {"kinds": ["card"]},
                "action": "mask",
            },
            {
                "name": "ibans-and-mail",
                "detector": "pii",
                "detector_config": {"kinds": ["iban", "email"]},
                "action": "redact",
            },
            {
                "name": "own-phrases",
                "detector": "injection",
                "detector_config": {"extra_phrases": ["wire the money", "c'est l'heure"]},
                "action": "flag",
            },
        ]
    )
    assert sets[0].prefilter.covered == {0, 1, 2, 3}
    for record in build()[:150]:
        assert_same(sets, record.result)
    assert_same(sets, {"content": [{"type": "text", "text": "now WIRE  the money, c'est l'heure"}]})


def _split(value: str, at: int) -> dict:
    """A result whose structured data holds `value` cut in two, as neighbouring strings."""
    return {
        "content": [{"type": "text", "text": "see the data"}],
        "structuredContent": {
            "items": [value[:at], value[at:]],
            "pair": {"a": value[:at], "b": value[at:]},
        },
    }


_GITHUB = fake(next(k.sample for k in KINDS if k.kind == "github_pat"), "split")


@pytest.mark.parametrize(
    ("value", "at"),
    [
        (_GITHUB, 4),
        (_GITHUB, len(_GITHUB) - 1),
        ("4111 1111 1111 1111", 9),
        ("4111111111111111", 13),
        ("078-05-1120", 6),
        ("+1 (415) 555-0132", 9),
        ("ops@acme.io", 4),
        ("DE89 3704 0044 0532 0130 00", 4),
        ("ignore all previous instructions", 10),
    ],
)
def test_a_match_cut_between_two_strings_is_found_in_neither(value, at):
    # The scan sees the strings of a payload joined, one a line: what it reports across the
    # line between two strings must not become a finding in either.
    fast, reference = REDACTING
    result = evaluated(fast, _split(value, at))
    assert result == evaluated(reference, _split(value, at))
    assert result["events"] == []
    whole = evaluated(fast, _split(value, len(value)))
    assert whole == evaluated(reference, _split(value, len(value)))
    assert whole["events"]  # whole, the value is found


@pytest.mark.parametrize(
    "text",
    [
        "x4111111111111111",
        "_4111111111111111",
        "v1.4111 1111 1111 1111",
        "id-4111111111111111",
        "id 4111111111111111",
        "(4111111111111111)",
        "41111111111111111111111",
    ],
)
def test_cards_after_word_characters_are_judged_alike(text):
    # The scan's shape of a card starts at any digit; whether a word boundary comes before it
    # is the judgement of the run.
    for sets in (DEFAULT, REDACTING):
        assert_same(sets, {"content": [{"type": "text", "text": text}]})
        assert_same(sets, {"content": [{"type": "text", "text": f"{text}\n{text} "}]})


def test_ip_addresses_are_located_the_reference_way():
    sets = rule_sets([{"name": "ips", "detector": "pii", "detector_config": {"kinds": ["ip"]}}])
    assert sets[0].prefilter.covered == frozenset()
    assert_same(sets, {"content": [{"type": "text", "text": "from 10.1.2.3 and fe80::1:2"}]})


# Long runs of digits and separators, where nearly every digit ends a reported shape.
_LONG_RUNS = ["1 " * 32000, "1-1111 " * 3000, "DE89 3704 0044 0532 0130 00 " * 2000]


@pytest.mark.parametrize("text", _LONG_RUNS, ids=["spaced", "dashed", "ibans"])
def test_long_runs_of_digits_are_judged_alike(text):
    assert_same(DEFAULT, {"content": [{"type": "text", "text": text}]})
    assert_same(DEFAULT, {"name": "x", "arguments": {"q": text}}, "request")


def lines_run(work) -> int:
    """How many lines of rules/detectors/digit_runs.py run during `work()`: its work, counted
    without a clock."""
    count = 0
    module = digit_runs.__file__

    def counting(_frame, event, _arg):
        nonlocal count
        count += event == "line"
        return counting

    previous = sys.gettrace()
    sys.settrace(lambda frame, *_: counting if frame.f_code.co_filename == module else None)
    try:
        work()
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("piece", ["1 ", "1-1111 ", "(1) 2.3456 "])
def test_the_runs_a_scan_reports_are_found_in_linear_work(piece):
    fast, _reference = DEFAULT
    slot = next(r.slot for r in fast.rules if r.detector.key == "pii")
    lines = []
    for copies in (500, 2000):
        text = f"tel:{piece * copies}end"
        found = fast.prefilter.scan(text)[slot]
        assert len(found) >= 0.9 * copies  # nearly every copy ends a reported shape
        lines.append(lines_run(lambda: digit_runs.candidate_runs(text, found)))
    # A few lines per report, whatever the run's length: four times the text, four times the
    # work (widening each report alone took thousands of lines per report, growing with the
    # run).
    assert lines[1] <= 20 * len(found)
    assert lines[1] <= 4.5 * lines[0]
    # The run was widened to once, from its first report.
    assert digit_runs.stretches(text, found) == [(4, 4 + len(piece) * copies)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?<![a-z])sk-[a-z]{12,}(?![a-z])", r"(?<![a-z])sk-[a-z]{12}"),
        (r"ghp_[A-Za-z0-9]{36,}", r"ghp_[A-Za-z0-9]{36}"),
        (r"x[\s\S]{0,8192}?y", r"x"),
        (r"x[a-z]{100}y", r"x[a-z]{64}"),
        (r"[0-9a-f]{32}-us[0-9]", r"[0-9a-f]{32}-us[0-9]"),
        (r"x[a-z]{2,100}y", r"x[a-z]{2}"),
        (r"x[a-z]{0,100}y", r"x"),
        (r"ab(?P<s>[0-9]{6,200})(?P=q)", r"ab(?:[0-9]{6})"),
        (r"BEGIN KEY-----(?:[\s\S]{0,99}?END|[A-Z=\s]{0,99})", r"BEGIN KEY-----"),
        (r"x(?i:bearer|token)\s+", r"x(?i:bearer|token)\s"),
        (r"a|b+", r"a|b+"),
        (r"[]a-]{2,}z?", r"[]a-]{2}"),
        (r"\x41+\.", r"\x41+\."),
    ],
)
def test_the_head_of_an_expression_ends_where_a_match_must_have_begun(pattern, expected):
    assert prefilter.head(pattern) == expected


def test_without_hyperscan_every_payload_is_located_the_reference_way():
    # A platform with no wheel: the import fails, and the choice is made once, at import.
    script = (
        "import sys; sys.modules['hyperscan'] = None\n"
        "import django; django.setup()\n"
        "import asyncio\n"
        "from rules import prefilter\n"
        "from rules.definitions import RuleDefinition, clean_rule, default_rules\n"
        "from rules.engine import compile_rules, evaluate\n"
        "rules = [RuleDefinition(id=i, workspace_id=1, **clean_rule(r))\n"
        "         for i, r in enumerate(default_rules(), 1)]\n"
        "compiled = compile_rules(rules)\n"
        "payload = {'content': [{'type': 'text', 'text': 'mail ops@acme.io, key ghp_"
        + "x7Yz"
        * 9
        + "'}]}\n"
        "result = asyncio.run(evaluate(compiled, direction='response', method='tools/call',\n"
        "    tool_name='x', server_name='x', payload=payload))\n"
        "print(prefilter.ENGINE, bool(compiled.prefilter), result.payload['content'][0]['text'])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "python",
        "False",
        "mail",
        "ops@acme.io,",
        "key",
        "[REDACTED:GITHUB_PAT]",
    ]
