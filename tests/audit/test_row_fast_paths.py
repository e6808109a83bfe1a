"""The writer's shortcuts give what the plain code gives, for the inputs they take and the ones
they hand back to it (the digests themselves are pinned in test_digest_stability)."""

import datetime
import json
import re
import uuid

import pytest

from audit.log import chain, entries, payload_texts, token_cost
from audit.models import Outcome

PAYLOADS = [
    {"content": [{"type": "text", "text": "hello 5"}], "isError": False},
    {"name": "a__echo", "arguments": {"text": "v2.0.1", "n": 12345, "r": 0.25}},
    {"whole": 2.0, "huge": 1e20, "tiny": 1e-7, "neg": -0.0, 7: "int key", None: "none key"},
    ["a", 1, 1.5, float("nan"), ("t", "u"), {"z": 1, "a": [True, None]}],
    {"del": "a\x7fb", "nul": "a\x00b", "sep": "\x1c\x1d", "lone": "\ud800", "ü": "Zürich 東京"},
    {"id": uuid.UUID(int=5), "quote": 'say "hi" \\ now'},
    "just a string",
    "Grüße",
]


def _slow_estimate(text):
    tokens = 0
    for piece in re.findall(r"[^\W\d_]+|\d+|[^\w\s]+", text):
        first = piece[0]
        if first.isdigit():
            tokens += (len(piece) + 2) // 3
        elif piece.isascii() and first.isalpha():
            tokens += (len(piece) + 5) // 6
        else:
            tokens += (len(piece) + 1) // 2
    return tokens


def test_the_ascii_estimate_counts_what_the_loop_counts():
    for code in range(128):
        for run in (1, 2, 3, 5, 6, 7, 13):
            text = chr(code) * run + " x" + chr(code) * run + "7_"
            assert token_cost.estimate_text(text) == _slow_estimate(text), repr(text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_rows_payload_texts_are_the_slow_ones(payload):
    row = entries.to_row({"hop": "client.request", "workspace_id": 1, "payload": payload})
    cleaned = row["payload"]
    texts = row[payload_texts.PAYLOAD_JSON]
    assert texts.payload is cleaned
    assert texts.canonical == json.dumps(
        chain._plain(cleaned), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert texts.stored in (None, json.dumps(cleaned))
    compact = json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False)
    assert row["request_bytes"] == len(compact.encode())
    text = cleaned if isinstance(cleaned, str) else json.dumps(cleaned, ensure_ascii=False)
    assert row["tokens_estimate"] == _slow_estimate(text)


def test_a_replaced_payload_is_hashed_afresh():
    row = entries.to_row({"hop": "client.request", "workspace_id": 1, "payload": {"a": 1}})
    row.update(workspace_id=1, seq=1, prev_digest=chain.GENESIS, payload_state="truncated")
    row["payload"] = {"truncated": True}
    record = chain.record_of(row)
    assert record["payload_sha256"] == chain.payload_sha256({"truncated": True})
    assert chain._digest_of_row(row) == chain.digest_of(record)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_entries_sharing_one_payload_object_share_its_processing(payload):
    hops = ("client.request", "upstream.request", "upstream.response", "client.response")
    calls = [
        {
            "hop": hop,
            "workspace_id": 1,
            "correlation_id": str(uuid.UUID(int=9)),
            "at": 1785240000.25,
            "session_id": "s",
            "payload": payload,
        }
        for hop in hops
    ]
    memo = entries.BatchMemo()
    shared = [entries.to_row(entry, memo) for entry in calls]
    alone = [entries.to_row(entry) for entry in calls]
    # Processed once: one cleaned payload and one set of texts for the four rows...
    assert len({id(row[payload_texts.PAYLOAD_JSON]) for row in shared}) == 1
    assert len({id(row["payload"]) for row in shared}) == 1
    assert len(memo.payloads) == len(memo.calls) == len(memo.sessions) == 1
    # ...giving each row what processing it alone gives.
    for together, apart in zip(shared, alone, strict=True):
        texts, own = together.pop(payload_texts.PAYLOAD_JSON), apart.pop(payload_texts.PAYLOAD_JSON)
        assert (texts.canonical, texts.sha256, texts.stored, texts.text) == (
            own.canonical,
            own.sha256,
            own.stored,
            own.text,
        )
        assert texts.sha256 == chain.payload_sha256(together["payload"])
        assert repr(together) == repr(apart)


@pytest.mark.parametrize("rpc_id", [7, -3, 10**120, True, 1.5, "abc", "a\x00b", {"a": 1}, None])
def test_an_rpc_id_is_stored_as_the_plain_code_stores_it(rpc_id):
    row = entries.to_row({"hop": "client.request", "workspace_id": 1, "rpc_id": rpc_id})
    text = rpc_id if isinstance(rpc_id, str) else entries._rpc_json(rpc_id)
    assert row["rpc_id"] == ("" if rpc_id is None else entries._text(text, "rpc_id"))


@pytest.mark.parametrize("email", ["Bob@Example.TEST", "a\x00b@x", "Zoë@X", "x" * 300, 5, None])
def test_an_email_is_stored_as_the_plain_code_stores_it(email):
    row = entries.to_row({"hop": "client.request", "workspace_id": 1, "user_email": email})
    assert row["user_email"] == entries._text(email, "user_email").lower()


def test_a_batchs_digests_are_the_records_digests():
    """The digest of each row as `append` makes it (a call's correlation text kept for its rows,
    a UTC time taken as it is) equals the digest of its record, whatever the values' kinds."""
    call = uuid.UUID(int=11)
    zurich = datetime.timezone(datetime.timedelta(hours=1))
    memo = entries.BatchMemo()
    rows = []
    for n, at in enumerate((1785240000.25, 1785240000.0, 1785240001.5)):
        row = entries.to_row(
            {
                "hop": "upstream.response",
                "workspace_id": 1,
                "correlation_id": str(call),
                "at": at,
                "latency_ms": 2.0 if n else 2.5,
                "error_code": -32602 if n == 2 else None,
                "detail": {"rule": "r", "count": 2.0, "kinds": {"pii": 1}} if n else {},
                "payload": PAYLOADS[n],
            },
            memo,
        )
        rows.append(row)
    # A time in another zone, and values of other kinds than the writer makes.
    rows[1]["at"] = rows[1]["at"].astimezone(zurich)
    rows[2].update(latency_ms=float("inf"), token_id=True, outcome=Outcome.BLOCKED)
    call_texts: dict = {}
    for seq, row in enumerate(rows, 1):
        row.update(workspace_id=1, seq=seq, prev_digest=chain.GENESIS, payload_state="full")
        assert chain._digest_of_row(row, call_texts) == chain.digest_of(chain.record_of(row))
    assert list(call_texts.values()) == [str(call)]
