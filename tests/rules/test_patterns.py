"""Admin-written patterns run on RE2: linear time on any input, constructs RE2 cannot run refused
by name when saving, rules saved before that refused closed, and each call's rules bounded by
a time budget."""

import asyncio
import fnmatch
import logging
import random
import re
import time

import pytest

from rules import services
from rules.definitions import RuleDefinition
from rules.engine import OverBudget, compile_rules, evaluate
from rules.errors import InvalidRule
from rules.models import Rule
from rules.patterns import PatternError, compile_globs, compile_pattern
from tests.support.rules import rule, run, text_result

EVIL = "^(a+)+$"
EVIL_INPUT = "a" * 40 + "!"


def test_a_pattern_that_backtracks_in_python_runs_in_linear_time():
    regex = compile_pattern(EVIL)
    started = time.perf_counter()
    assert regex.search(EVIL_INPUT) is None
    assert regex.search("a" * 100_000 + "!") is None
    assert time.perf_counter() - started < 0.1
    assert regex.search("aaaa")


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", r"a backreference (\1)"),
        ("(?=x)", "a lookahead, (?=..."),
        ("(?!x)y", "a negative lookahead, (?!..."),
        ("(?<=x)y", "a lookbehind, (?<=..."),
        ("(?<!x)y", "a negative lookbehind, (?<!..."),
        ("(?P<q>a)(?P=q)", "a named backreference, (?P=..."),
        ("(?>ab)", "an atomic group, (?>..."),
        ("a++", "a possessive quantifier (++)"),
        ("a{1001}", "repeats more than 1000 times"),
        (r"end\Z", r"write \z for the end of the text"),
        ("(open", "is not a valid regular expression: missing ): (open"),
    ],
)
def test_constructs_re2_cannot_run_are_refused_by_name(pattern, construct):
    with pytest.raises(PatternError) as refused:
        compile_pattern(pattern)
    assert construct in str(refused.value)


def test_case_and_multiline_options_are_kept():
    assert compile_pattern("secret", ignore_case=True).search("TOP SECRET")
    assert not compile_pattern("secret").search("TOP SECRET")
    assert compile_pattern("^b$", multiline=True).search("a\nb\nc")
    assert not compile_pattern("^b$").search("a\nb\nc")


def test_globs_match_as_fnmatch_does():
    rng = random.Random(7)  # noqa: S311 - test data
    alphabet = "ab_*?[]!-"
    for _ in range(3000):
        glob = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        name = "".join(rng.choice("ab_-[]!") for _ in range(rng.randint(0, 6)))
        expected = re.match(fnmatch.translate(glob), name) is not None
        assert (compile_globs([glob]).match(name) is not None) == expected, (glob, name)
    started = time.perf_counter()
    assert not compile_globs(["*a*a*a*a*a*a*a*a*b"]).match("a" * 50_000)
    assert time.perf_counter() - started < 0.1


def test_keywords_find_whole_words_as_lookarounds_would():
    rng = random.Random(3)  # noqa: S311 - test data
    alphabet = "ab c+-é_\nÉ"
    for _ in range(600):
        words = sorted(
            {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3))).strip() or "a"} | {"b"}
        )
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        body = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        expected = [m.span() for m in re.finditer(rf"(?<!\w)(?:{body})(?!\w)", text, re.IGNORECASE)]
        found = run([rule("k", "keywords", "flag", detector_config={"words": words})], text)
        got = found.events[0]["count"] if found.events else 0
        assert got == len(expected), (words, text)


def test_a_lone_surrogate_in_a_payload_does_not_break_a_pattern():
    definitions = [
        rule("re", "regex", "redact", detector_config={"pattern": "secret"}),
        rule("kw", "keywords", "flag", detector_config={"words": ["secret"]}),
    ]
    result = run(definitions, text_result("\ud800 secret"))
    assert result.payload["content"][0]["text"] == "\ud800 [REDACTED:CUSTOM]"
    assert [(e["rule"], e["count"]) for e in result.events] == [("kw", 1), ("re", 1)]


@pytest.mark.django_db
def test_the_service_accepts_what_re2_runs_and_names_what_it_cannot(acme, alice):
    def create(name, pattern, **fields):
        return services.create_rule(
            workspace=acme,
            actor=alice,
            name=name,
            detector="regex",
            action="block",
            detector_config={"pattern": pattern},
            **fields,
        )

    assert create("evil-but-linear", EVIL).detector_config["pattern"] == EVIL
    with pytest.raises(InvalidRule) as refused:
        create("backref", r"(a)\1")
    assert "'pattern' uses a backreference (\\1)" in str(refused.value)
    assert refused.value.field == "detector_config"
    with pytest.raises(InvalidRule) as refused:
        create("ahead", "(?=x)")
    assert "lookahead" in str(refused.value)
    with pytest.raises(InvalidRule) as refused:
        services.create_rule(
            workspace=acme,
            actor=alice,
            name="args",
            detector="tool",
            action="block",
            detector_config={"arguments": [{"path": "q", "regex": "(?<=x)y"}]},
        )
    assert "arguments[0].regex uses a lookbehind" in str(refused.value)
    assert list(Rule.objects.for_workspace(acme).values_list("name", flat=True)) == [
        "evil-but-linear"
    ]


def _stored(action, mode="enforce", **fields) -> RuleDefinition:
    """A rule as an older release could have saved it: a pattern RE2 cannot run."""
    return RuleDefinition(
        id=7,
        workspace_id=1,
        name=f"old-{action}-{mode}",
        detector="regex",
        detector_config={"pattern": r"(\w)\1", "kind": "custom"},
        action=action,
        mode=mode,
        **fields,
    )


def test_a_stored_rule_re2_cannot_run_refuses_its_calls_when_it_would_block(caplog):
    payload = {"name": "notes__echo", "arguments": {"text": "hello"}}
    with caplog.at_level(logging.ERROR, logger="rules.engine"):
        compiled = compile_rules([_stored("block")])
    assert "refuses the calls it applies to" in caplog.text
    assert compiled.errors and "backreference" in compiled.errors[0]
    result = run([_stored("block")], payload, direction="request")
    assert result.blocked_by.rule == "old-block-enforce"
    assert result.events[0]["kinds"] == {"rule_cannot_run": 1}
    # A rewriting rule fails closed too; its conditions still choose the calls it refuses.
    redact = _stored("redact", conditions={"tools": ["github__*"]})
    assert run([redact], payload, direction="request", tool_name="notes__echo").blocked_by is None
    assert run([redact], payload, direction="request").blocked_by is not None


def test_a_stored_rule_re2_cannot_run_is_left_out_when_it_only_flags_or_monitors():
    payload = {"name": "x", "arguments": {"text": "hello"}}
    for definition in (_stored("flag"), _stored("block", mode="monitor")):
        compiled = compile_rules([definition])
        assert len(compiled) == 0 and compiled.errors
        assert run([definition], payload, direction="request").events == []


def test_rules_that_overrun_the_call_budget_refuse_the_call():
    definitions = [
        rule("flag-word", "keywords", "flag", detector_config={"words": ["zebra"]}),
        rule("redact-secrets", "secrets", "redact"),
    ]
    big = text_result("lorem ipsum dolor sit amet " * 20_000)  # in a worker thread
    for payload in (text_result("small"), big):
        assert run(definitions, payload, budget_ms=60_000).blocked_by is None
        result = run(definitions, payload, budget_ms=0.0001)
        assert isinstance(result.blocked_by, OverBudget)
        assert result.blocked_by.rule == "flag-word"  # the first rule already overran it
        assert "took longer than their 0.0001 ms budget" in result.blocked_by.message
        assert result.blocked_by.error_data()["reason"] == "rules_budget_exceeded"
        (event,) = result.events
        assert (event["kinds"], event["action"], event["applied"], event["error"]) == (
            {"budget_exceeded": 1},
            "block",
            True,
            "budget exceeded",
        )


def test_a_large_payload_is_scanned_off_the_event_loop():
    compiled = compile_rules([rule("ab", "regex", "flag", detector_config={"pattern": "ab"})])
    payload = text_result("ab " * 100_000)
    ticks = []

    async def ticker(done: asyncio.Event):
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    async def scenario():
        done = asyncio.Event()
        ticking = asyncio.create_task(ticker(done))
        await asyncio.sleep(0)
        started = time.perf_counter()
        result = await evaluate(
            compiled,
            direction="response",
            method="tools/call",
            tool_name="t",
            server_name="s",
            payload=payload,
        )
        took = time.perf_counter() - started
        done.set()
        await ticking
        return result, started, took

    result, started, took = asyncio.run(scenario())
    assert result.events[0]["count"] == 100_000
    during = [t for t in ticks if started < t < started + took]
    assert took > 0.02 and len(during) >= 3  # the loop went on while the rule scanned


def test_a_scan_dense_with_matches_stops_when_the_budget_is_spent():
    definitions = [rule("ab", "regex", "redact", detector_config={"pattern": "ab"})]
    payload = text_result("ab " * 300_000)
    started = time.perf_counter()
    result = run(definitions, payload, budget_ms=50)
    took = time.perf_counter() - started
    assert isinstance(result.blocked_by, OverBudget) and result.blocked_by.rule == "ab"
    assert took < 0.5  # not the whole scan, which takes seconds: it stopped when time was up
    assert result.payload is payload  # nothing half-rewritten goes anywhere


def test_a_text_dense_with_matches_stops_at_the_budget_and_keeps_few_of_them():
    import time
    import tracemalloc

    from rules import prefilter

    definitions = [rule("pii", "pii", "redact")]
    dense = text_result("@" * 4_000_000)
    tracemalloc.start()
    started = time.perf_counter()
    result = run(definitions, dense, budget_ms=200)
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(result.blocked_by, OverBudget)
    # Stopped near the budget, not after every "@" was kept and judged (seconds, a gigabyte).
    assert took < 2, took
    assert peak < 200 * 2**20, peak
    if prefilter.AVAILABLE:
        # Past the cap a scan gives the text to the reference way, which checks the budget.
        assert run(definitions, text_result("@" * 1_000_000), budget_ms=60_000).blocked_by is None
