"""Redaction that understands structure: credentials named by their JSON key or paired with
their key id, numbers and object keys of a call's data, JSON text that stays JSON, and
structured results that keep their tool's declared types."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane import output_schema
from rules import json_text
from rules.detectors.base import Match, non_overlapping
from rules.detectors.secret_kinds import ALNUM
from tests.support.rules import fake, rule, run, text_result

KEY_ID = fake(["ASIA", ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)], "key-id")
SECRET_KEY = fake([(ALNUM + "/+", 40)], "secret-key")
SESSION_TOKEN = fake([(ALNUM + "/+", 356)], "session-token")
CARD = 4539148803436467  # Luhn-valid Visa test number
EMAIL = "jane.doe@example.com"


def sts_output() -> dict:
    """What `aws sts assume-role` prints (and an AWS tool returns as structured content)."""
    return {
        "Credentials": {
            "AccessKeyId": KEY_ID,
            "SecretAccessKey": SECRET_KEY,
            "SessionToken": SESSION_TOKEN,
            "Expiration": "2026-12-06T12:00:00+00:00",
        },
        "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/deploy/ci"},
    }


def both(document) -> dict:
    """A tool result carrying `document` twice, as JSON text and as structured content."""
    return {
        "content": [{"type": "text", "text": json.dumps(document, indent=2)}],
        "structuredContent": document,
    }


def redact(payload, *definitions):
    return run(list(definitions) or [rule()], payload)


def secrets_gone(result, *secrets):
    dump = json.dumps(result.payload)
    return all(s not in dump for s in secrets)


# -- (a) the secret key and session token of STS / CLI JSON output ----------------------------


def test_sts_output_is_redacted_in_text_and_in_structured_content():
    result = redact(both(sts_output()))
    assert secrets_gone(result, KEY_ID, SECRET_KEY, SESSION_TOKEN)
    credentials = result.payload["structuredContent"]["Credentials"]
    assert credentials == {
        "AccessKeyId": "[REDACTED:AWS_ACCESS_KEY_ID]",
        "SecretAccessKey": "[REDACTED:AWS_SECRET_ACCESS_KEY]",
        "SessionToken": "[REDACTED:AWS_SESSION_TOKEN]",
        "Expiration": "2026-12-06T12:00:00+00:00",
    }
    text = json.loads(result.payload["content"][0]["text"])
    assert text["Credentials"] == credentials
    assert result.events[0]["kinds"] == {
        "aws_access_key_id": 2,
        "aws_secret_access_key": 2,
        "aws_session_token": 2,
    }


@pytest.mark.parametrize(
    "name", ["SecretAccessKey", "secret_access_key", "SecretKey", "secret-key", "token"]
)
def test_a_key_that_names_a_secret_key_makes_a_40_character_value_one(name):
    result = redact({"structuredContent": {name: SECRET_KEY}, "content": []})
    assert result.payload["structuredContent"] == {name: "[REDACTED:AWS_SECRET_ACCESS_KEY]"}
    text = redact(text_result(json.dumps({name: SECRET_KEY})))
    assert text.payload["content"][0]["text"] == json.dumps(
        {name: "[REDACTED:AWS_SECRET_ACCESS_KEY]"}
    )


def test_a_pagination_token_is_not_a_secret_key():
    cursor = {"NextToken": SECRET_KEY[:30], "nextToken": SECRET_KEY}
    payload = {"structuredContent": cursor, "content": []}
    assert redact(payload).payload is payload


# -- (b) a secret key without a label, beside its access key id --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"User name,Access key ID,Secret access key\nci,{KEY_ID},{SECRET_KEY}\n",
        f"{KEY_ID}\t{SECRET_KEY}",
        json.dumps([KEY_ID, SECRET_KEY]),
        json.dumps([KEY_ID, SECRET_KEY], indent=4),
        json.dumps({"id": KEY_ID, "value": SECRET_KEY}),
    ],
    ids=["csv", "tsv", "json-list", "json-list-indented", "json-object"],
)
def test_a_secret_key_beside_its_key_id_in_text(text):
    result = redact(text_result(text))
    assert secrets_gone(result, KEY_ID, SECRET_KEY)
    assert result.events[0]["kinds"] == {"aws_access_key_id": 1, "aws_secret_access_key": 1}


@pytest.mark.parametrize(
    "data",
    [
        [KEY_ID, SECRET_KEY],
        {"pair": [KEY_ID, SECRET_KEY]},
        {"id": KEY_ID, "value": SECRET_KEY},
        {"keys": [{"id": KEY_ID, "material": SECRET_KEY, "user": "ci"}]},
    ],
    ids=["list", "list-under-a-key", "object", "object-in-a-list"],
)
def test_a_secret_key_beside_its_key_id_in_structured_content(data):
    result = redact({"content": [], "structuredContent": data})
    assert secrets_gone(result, KEY_ID, SECRET_KEY)
    assert "[REDACTED:AWS_SECRET_ACCESS_KEY]" in json.dumps(result.payload)


def test_a_hash_or_a_documented_example_beside_a_key_id_is_left_alone():
    commit = "9fceb02d0ae598e95dc970b74767f19372d61af8"
    example = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for neighbour in (commit, example):
        result = redact({"content": [], "structuredContent": [KEY_ID, neighbour]})
        assert result.payload["structuredContent"] == ["[REDACTED:AWS_ACCESS_KEY_ID]", neighbour]
        text = redact(text_result(f"{KEY_ID},{neighbour}"))
        assert text.payload["content"][0]["text"].endswith(f",{neighbour}")


# -- (c) a card number stored as a JSON number -------------------------------------------------


def test_a_card_number_stored_as_a_number_is_found_and_rewritten_as_a_string():
    pii = rule("pii", "pii", "redact")
    result = redact(both({"card_number": CARD, "amount": 1250}), pii)
    assert result.payload["structuredContent"] == {"card_number": "[REDACTED:CARD]", "amount": 1250}
    assert json.loads(result.payload["content"][0]["text"]) == {
        "card_number": "[REDACTED:CARD]",
        "amount": 1250,
    }
    assert result.retyped == {("structuredContent", "card_number"): 0}
    assert result.events[0]["paths"] == ["content[0].text", "structuredContent.card_number"]


def test_masked_and_hashed_numbers_and_numbers_in_arguments():
    masked = redact(
        {"content": [], "structuredContent": {"cards": [CARD, 7]}},
        rule("mask", "pii", "mask", action_config={"keep": 4}),
    )
    assert masked.payload["structuredContent"] == {"cards": ["*" * 12 + "6467", 7]}
    assert masked.retyped == {("structuredContent", "cards", 0): 0}
    request = run(
        [rule("pii", "pii", "redact", direction="request")],
        {"name": "pay", "arguments": {"card": CARD}},
        direction="request",
    )
    assert request.payload["arguments"] == {"card": "[REDACTED:CARD]"}


def test_numbers_and_keys_of_the_protocol_envelope_are_not_data():
    # A keyword rule must not rename the members of a result, nor a regular expression on
    # digits rewrite a priority or a progress token: a client would no longer understand them.
    words = rule(
        "words", "keywords", "redact", detector_config={"words": ["annotations", "progressToken"]}
    )
    digits = rule("digits", "regex", "redact", detector_config={"pattern": "[0-9]{5}"})
    payload = {
        "content": [{"type": "text", "text": "fine", "annotations": {"priority": 12345}}],
        "_meta": {"progressToken": 12345},
        "isError": False,
    }
    assert redact(payload, words, digits).payload is payload


# -- (d) an email address used as an object key -----------------------------------------------


def test_an_email_used_as_a_key_is_renamed_and_keys_stay_unique():
    data = {EMAIL: {"role": "admin"}, "bob@example.org": {"role": "viewer"}, "total": 2}
    result = redact({"content": [], "structuredContent": data}, rule("pii", "pii", "redact"))
    assert result.payload["structuredContent"] == {
        "[REDACTED:EMAIL]": {"role": "admin"},
        "[REDACTED:EMAIL]#2": {"role": "viewer"},
        "total": 2,
    }
    event = result.events[0]
    assert event["kinds"] == {"email": 2}
    # The path names the key's place, never the key: it is what was found.
    assert event["paths"] == ["structuredContent.<key>", "structuredContent.<key>"]
    assert EMAIL not in repr(result.events)
    assert data == {EMAIL: {"role": "admin"}, "bob@example.org": {"role": "viewer"}, "total": 2}


def test_a_renamed_key_keeps_what_later_rules_rewrite_below_it():
    data = {EMAIL: {"card": CARD}}
    result = redact(both(data), rule("emails", "pii", "hash", detector_config={"kinds": ["email"]}))
    result = redact(
        result.payload, rule("cards", "pii", "redact", detector_config={"kinds": ["card"]})
    )
    (key,) = result.payload["structuredContent"]
    assert key.startswith("[HASH:")
    assert result.payload["structuredContent"][key] == {"card": "[REDACTED:CARD]"}
    assert result.retyped == {("structuredContent", key, "card"): 0}
    assert json.loads(result.payload["content"][0]["text"]) == result.payload["structuredContent"]


# -- JSON text stays JSON ----------------------------------------------------------------------


def test_json_text_keys_stay_unique_and_replacements_are_escaped():
    text = json.dumps({EMAIL: 1, "ops@example.org": 2, "note": f"mail {EMAIL}\n\tthanks"})
    result = redact(
        text_result(text), rule("pii", "pii", "replace", action_config={"text": 'a "quoted" \\'})
    )
    out = result.payload["content"][0]["text"]
    assert json.loads(out) == {
        'a "quoted" \\': 1,
        'a "quoted" \\#2': 2,
        "note": 'mail a "quoted" \\\n\tthanks',
    }


def test_a_match_beside_an_escape_never_splits_it():
    document = {"config": f'token="{SECRET_KEY}"\\n', "path": "C:\\tmp\\" + SECRET_KEY}
    result = redact(
        text_result(json.dumps(document)),
        rule("re", "regex", "redact", detector_config={"pattern": r"[A-Za-z0-9/+\\]{20,}"}),
    )
    out = json.loads(result.payload["content"][0]["text"])
    assert SECRET_KEY not in json.dumps(out)


def test_an_escaped_newline_does_not_hide_what_follows_it():
    # In JSON text a newline is the two characters `\n`: the letter must not count as a word
    # character that a token or a card number may not follow.
    token = "ghp_" + "Ab1" * 12
    document = {"log": f"deploy\n{token}\ncard:\n{CARD}\tok", "note": f'"{EMAIL}"'}
    result = redact(text_result(json.dumps(document)), rule(), rule("pii", "pii", "redact"))
    assert json.loads(result.payload["content"][0]["text"]) == {
        "log": "deploy\n[REDACTED:GITHUB_PAT]\ncard:\n[REDACTED:CARD]\tok",
        "note": '"[REDACTED:EMAIL]"',
    }


def test_text_that_is_not_json_is_rewritten_as_text():
    result = redact(text_result(f"{{not json: {CARD}}}"), rule("pii", "pii", "redact"))
    assert result.payload["content"][0]["text"] == "{not json: [REDACTED:CARD]}"


# -- structured content keeps its schema's types (dataplane/output_schema.py) -------------------

INTEGER_CARD = {
    "type": "object",
    "properties": {"card_number": {"type": "integer"}, "holder": {"type": "string"}},
}


def fitted(schema, data=None):
    data = {"card_number": CARD, "holder": "Jane"} if data is None else data
    result = redact({"content": [], "structuredContent": data}, rule("pii", "pii", "redact"))
    events = [dict(e) for e in result.events]
    out = output_schema.fit(result.payload, result.retyped, schema, events)
    return out["structuredContent"], events


def test_a_redacted_number_is_removed_where_the_schema_wants_a_number():
    data, events = fitted(INTEGER_CARD)
    assert data == {"holder": "Jane"}
    assert events[0]["removed"] == [
        {"path": "structuredContent.card_number", "reason": output_schema.REMOVED_REASON}
    ]


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {"type": "object"},
        {"type": "object", "properties": {"card_number": {"type": ["integer", "string"]}}},
        {"type": "object", "properties": {"card_number": {"anyOf": [{"type": "integer"}, {}]}}},
        {
            "type": "object",
            "properties": {"card_number": {"$ref": "#/$defs/Card"}},
            "$defs": {"Card": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        },
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
    ids=["no-schema", "undescribed", "type-list", "any-of", "ref", "additional"],
)
def test_a_redacted_number_stays_a_string_where_the_schema_allows_one(schema):
    data, events = fitted(schema)
    assert data == {"card_number": "[REDACTED:CARD]", "holder": "Jane"}
    assert "removed" not in events[0]


def test_schema_types_are_followed_through_refs_lists_and_patterns():
    schema = {
        "type": "object",
        "properties": {"payments": {"type": "array", "items": {"$ref": "#/$defs/Payment"}}},
        "patternProperties": {"^card_": {"type": "integer"}},
        "$defs": {
            "Payment": {
                "type": "object",
                "properties": {"card": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
            }
        },
    }
    data, events = fitted(
        schema, {"payments": [{"card": CARD}, {"card": None}], "card_2": CARD, "x": CARD}
    )
    assert data == {"payments": [{}, {"card": None}], "x": "[REDACTED:CARD]"}
    assert sorted(r["path"] for r in events[0]["removed"]) == [
        "structuredContent.card_2",
        "structuredContent.payments[0].card",
    ]
    items, _ = fitted({"type": "array", "items": {"type": "integer"}}, [1, CARD, CARD])
    assert items == [1]


# -- Any document stays a document -------------------------------------------------------------

_WORDS = st.sampled_from(["", "a", " ", '"', "\\", "\n", "é", "\u2028", EMAIL, str(CARD), "x:y"])
_TEXT = st.lists(_WORDS, max_size=5).map("".join)
_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.just(CARD) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
).filter(lambda d: isinstance(d, (dict, list)))


def _shape(node):
    """A document's containers and their members, in order: what a rewrite must not change
    (keys keep their places when renamed)."""
    if isinstance(node, dict):
        return ("object", [_shape(v) for v in node.values()])
    if isinstance(node, list):
        return ("array", [_shape(v) for v in node])
    return "value"


@settings(max_examples=150, deadline=None)
@given(document=_DOCUMENTS, indent=st.sampled_from([None, 2]))
def test_any_json_text_stays_json_of_the_same_shape(document, indent):
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    rules = [
        rule("pii", "pii", "redact", detector_config={"kinds": ["email", "card"]}),
        rule("quotes", "regex", "replace", detector_config={"pattern": r'[":\\]+'},
             action_config={"text": '"\\'}),
    ]  # fmt: skip
    result = run(rules, text_result(text))
    out = result.payload["content"][0]["text"]
    rewritten = json.loads(out)
    assert _shape(rewritten) == _shape(document)


def _every_token(text: str) -> list[tuple[int, int, str]]:
    """Every string literal and number of a document, walked from its start."""
    out = []
    for m in json_text._TOKEN.finditer(text):
        if m.group("n") is not None:
            out.append((*m.span("n"), "number"))
        else:
            out.append((*m.span("t"), "string" if m.group("key") is None else "key"))
    return out


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    document=_DOCUMENTS,
    indent=st.sampled_from([None, 1, 2]),
    spans=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 12)), min_size=1, max_size=6),
)
def test_the_tokens_a_rewrite_walks_from_a_match_line_are_those_a_whole_walk_finds(
    document, indent, spans
):
    # A rewrite tokenizes from the line each match starts on (no JSON string holds a raw
    # newline), not from the start of the document: it must meet every token a match covers.
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    matches = non_overlapping(
        [
            Match("x", int(at * len(text)), min(len(text), int(at * len(text)) + n))
            for at, n in spans
        ]
    )

    def covering(tokens):
        return [t for t in tokens if any(m.start < t[1] and m.end > t[0] for m in matches)]

    assert covering(json_text._tokens(text, matches)) == covering(_every_token(text))
