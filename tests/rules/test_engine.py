"""The engine: actions, order and scopes, monitor and enforce, blocking, chaining, and where in
a payload modifications apply."""

import copy

import pytest

from rules.actions import digest, hash_key
from rules.engine import RuleContext
from tests.support.rules import rule, run, text_result

TOKEN = "ghp_" + "Ab1" * 12
CARD = "4111 1111 1111 1111"


def test_redact_replaces_each_match_by_its_kind():
    result = run([rule()], text_result(f"token={TOKEN} and {TOKEN}"))
    assert result.payload["content"][0]["text"] == (
        "token=[REDACTED:GITHUB_PAT] and [REDACTED:GITHUB_PAT]"
    )
    event = result.events[0]
    assert event["kinds"] == {"github_pat": 2}
    assert event["applied"] is True and event["paths"] == ["content[0].text"]
    assert TOKEN not in repr(result.events)  # never the matched text


def test_replace_mask_and_hash():
    pii = {"detector": "pii", "detector_config": {"kinds": ["card"]}}
    replaced = run(
        [rule(action="replace", action_config={"text": "<card>"}, **pii)],
        text_result(f"pay {CARD}."),
    )
    assert replaced.payload["content"][0]["text"] == "pay <card>."
    masked = run([rule(action="mask", action_config={"keep": 4}, **pii)], text_result(CARD))
    assert masked.payload["content"][0]["text"] == "*" * 15 + "1111"
    hashed = run([rule(action="hash", **pii)], text_result(f"{CARD} / {CARD}"))
    text = hashed.payload["content"][0]["text"]
    first, second = text.split(" / ")
    assert first == second == digest(hash_key(1), CARD) and first.startswith("[HASH:")
    assert len(first) == len("[HASH:]") + 10
    # Stable for a workspace, different across workspaces.
    assert digest(hash_key(1), CARD) != digest(hash_key(2), CARD)


def test_flag_reports_and_changes_nothing():
    payload = text_result(f"token {TOKEN}")
    result = run([rule(action="flag")], payload)
    assert result.payload is payload and not result.modified
    assert result.events[0]["applied"] is False


def test_nothing_is_copied_when_nothing_matches():
    payload = {"content": [{"type": "text", "text": "all clear"}], "structuredContent": {"a": [1]}}
    result = run([rule(), rule("p", "pii", "redact")], payload)
    assert result.payload is payload and result.events == [] and result.blocked_by is None


def test_a_block_stops_evaluation_and_names_the_rule():
    blocking = rule("no-secrets", action="block", id=7)
    later = rule("later", "pii", "redact", order=5)
    result = run([blocking, later], text_result(f"{TOKEN} {CARD}"))
    assert result.blocked_by.rule == "no-secrets" and result.blocked_by.rule_id == 7
    assert "Blocked by rule 'no-secrets'" in result.blocked_by.message
    assert [e["rule"] for e in result.events] == ["no-secrets"]


def test_monitor_mode_reports_what_enforce_would_do_and_changes_nothing():
    payload = text_result(f"{TOKEN} {CARD}")
    original = copy.deepcopy(payload)
    result = run(
        [rule("b", action="block", mode="monitor"), rule("r", "pii", "redact", mode="monitor")],
        payload,
    )
    assert result.blocked_by is None and result.payload is payload and payload == original
    assert [(e["rule"], e["mode"], e["applied"]) for e in result.events] == [
        ("b", "monitor", False),
        ("r", "monitor", False),
    ]


def test_modifications_chain_in_order():
    result = run(
        [
            rule("cards", "pii", "redact", order=1, detector_config={"kinds": ["card"]}),
            rule("secrets", order=2),
            rule(
                "words",
                "keywords",
                "replace",
                order=3,
                detector_config={"words": ["REDACTED"]},
                action_config={"text": "gone"},
            ),
        ],
        text_result(f"{CARD} {TOKEN}"),
    )
    assert result.payload["content"][0]["text"] == "[gone:CARD] [gone:GITHUB_PAT]"
    assert [e["rule"] for e in result.events] == ["cards", "secrets", "words"]


def test_scopes_run_workspace_then_gateway_then_assignment_and_by_order_within():
    seen = []
    rules = [
        rule(
            "assignment",
            "keywords",
            "flag",
            order=0,
            gateway_id=1,
            assignment_id=5,
            detector_config={"words": ["x"]},
        ),
        rule(
            "gateway-2", "keywords", "flag", order=2, gateway_id=1, detector_config={"words": ["x"]}
        ),
        rule(
            "gateway-1", "keywords", "flag", order=1, gateway_id=1, detector_config={"words": ["x"]}
        ),
        rule("workspace", "keywords", "flag", order=99, detector_config={"words": ["x"]}),
        rule(
            "other-assignment",
            "keywords",
            "flag",
            gateway_id=1,
            assignment_id=6,
            detector_config={"words": ["x"]},
        ),
    ]
    result = run(rules, text_result("x"), assignment_id=5)
    seen = [e["rule"] for e in result.events]
    assert seen == ["workspace", "gateway-1", "gateway-2", "assignment"]
    assert [e["scope"] for e in result.events][-1] == "assignment"


def test_direction_and_disabled_rules():
    rules = [rule("req", direction="request"), rule("off", enabled=False)]
    assert run(rules, text_result(TOKEN), direction="response").events == []
    assert run(rules, {"arguments": {"t": TOKEN}}, direction="request").events[0]["rule"] == "req"


@pytest.mark.parametrize(
    ("conditions", "applies"),
    [
        ({"tools": ["github__*"]}, True),
        ({"tools": ["jira__*"]}, False),
        ({"servers": ["github"]}, True),
        ({"servers": ["jira"]}, False),
        ({"teams": ["eng", "ops"]}, True),
        ({"teams": ["ops"]}, False),
        ({"people": ["BOB@acme.test"]}, True),
        ({"people": ["carol@acme.test"]}, False),
        ({"methods": ["prompts/get"]}, False),
        ({"tools": ["github__*"], "teams": ["ops"]}, False),
    ],
)
def test_conditions(conditions, applies):
    result = run([rule(conditions=conditions)], text_result(TOKEN))
    assert bool(result.events) is applies


def test_modifications_reach_text_structured_content_and_embedded_resources():
    payload = {
        "content": [
            {"type": "text", "text": f"a {TOKEN}"},
            {"type": "resource", "resource": {"uri": "file:///x", "text": f"b {TOKEN}"}},
            {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"},
        ],
        "structuredContent": {"items": [{"note": f"c {TOKEN}", "n": 3}], "ok": True},
    }
    result = run([rule()], payload)
    out = result.payload
    assert out["content"][0]["text"] == "a [REDACTED:GITHUB_PAT]"
    assert out["content"][1]["resource"]["text"] == "b [REDACTED:GITHUB_PAT]"
    assert out["content"][2] is payload["content"][2]  # untouched parts are shared, not copied
    assert out["structuredContent"]["items"][0] == {"note": "c [REDACTED:GITHUB_PAT]", "n": 3}
    assert payload["content"][0]["text"] == f"a {TOKEN}"  # the input is never mutated
    assert sorted(result.events[0]["paths"]) == [
        "content[0].text",
        "content[1].resource.text",
        "structuredContent.items[0].note",
    ]


def test_prompts_get_messages_and_resources_read_contents():
    prompt = {"messages": [{"role": "user", "content": {"type": "text", "text": f"use {TOKEN}"}}]}
    contents = {"contents": [{"uri": "file:///.env", "text": f"GH={TOKEN}"}]}
    out = run([rule()], prompt, method="prompts/get", tool_name=None).payload
    assert out["messages"][0]["content"]["text"] == "use [REDACTED:GITHUB_PAT]"
    out = run([rule()], contents, method="resources/read", tool_name=None).payload
    assert out["contents"][0]["text"] == "GH=[REDACTED:GITHUB_PAT]"


def test_request_arguments_are_rewritten_before_they_go_upstream():
    params = {"name": "github__create_issue", "arguments": {"body": f"key {TOKEN}", "n": 1}}
    result = run([rule()], params, direction="request")
    assert result.payload["arguments"] == {"body": "key [REDACTED:GITHUB_PAT]", "n": 1}
    assert result.payload["name"] == "github__create_issue" and result.modified


def test_a_rule_that_cannot_compile_is_left_out_and_named():
    from rules.definitions import RuleDefinition
    from rules.engine import compile_rules

    broken = RuleDefinition(name="broken", detector="regex", detector_config={})
    compiled = compile_rules([broken, rule("ok")])
    assert len(compiled) == 1 and compiled.errors[0].startswith("broken:")


def test_the_default_rule_set_redacts_secrets_and_flags_pii():
    from rules.definitions import RuleDefinition, clean_rule, default_rules

    defaults = [RuleDefinition(id=i, **clean_rule(r)) for i, r in enumerate(default_rules(), 1)]
    result = run(
        defaults, text_result(f"{TOKEN} for jane@example.com"), context=RuleContext(workspace_id=1)
    )
    assert result.payload["content"][0]["text"] == "[REDACTED:GITHUB_PAT] for jane@example.com"
    assert {e["rule"]: e["kinds"] for e in result.events} == {
        "redact-secrets": {"github_pat": 1},
        "flag-pii": {"email": 1},
    }
