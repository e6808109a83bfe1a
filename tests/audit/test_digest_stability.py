"""Digests of stored entries never change: chains and exports already carry them.

The expected digests were computed once and are pinned here; a change to how entries are
cleaned, serialised, truncated or hashed that alters any of them breaks every stored chain.
"""

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from audit.log.chain import MODEL_FIELDS, digest_of, record_of, verify_workspace
from audit.log.policy import forget_cached_policies
from audit.log.recorder import write_entries
from audit.models import LogEntry, LogPolicy
from teams.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)

WORKSPACE_ID = 90210
CALL = uuid.UUID("6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b")
AT = 1764070000.123456


def _full_entries():
    base = {
        "workspace_id": WORKSPACE_ID,
        "correlation_id": str(CALL),
        "gateway_id": 7,
        "gateway_slug": "dev",
        "assignment_id": 3,
        "server_id": 5,
        "server_name": "tîme",
        "user_id": 42,
        "user_email": "Zoë@Example.TEST",
        "token_id": 11,
        "session_id": "sealed-session-id",
        "client_name": "claude-code",
        "client_version": "2.1.0",
        "method": "tools/call",
        "rpc_id": 17,
        "tool": "time__now",
        "upstream_tool": "now",
        "identity_scheme": "service_account",
    }
    nested = {
        "name": "time__now",
        "arguments": {
            "zone": "Europe/Zürich",
            "text": 'héllo 世界 🎉 "quoted" \\ back\nline',
            "count": 3,
            "ratio": 0.1,
            "whole": 2.0,
            "tiny": 1e-7,
            "huge": 1e20,
            "big": 2**70,
            "negative": -4.5,
            "flags": [True, False, None],
            "deep": {"z": {"y": [1, 2.5, {"x": 3.0}]}, "a": []},
            7: "integer key",
        },
    }
    return [
        {**base, "hop": "client.request", "payload": nested, "at": AT},
        {
            **base,
            "hop": "upstream.request",
            "payload": nested,
            "at": datetime(2026, 11, 25, 13, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2))),
            "request_bytes": 999,
            "rpc_id": "req-α",
        },
        {
            **base,
            "hop": "upstream.response",
            "payload": {"content": [{"type": "text", "text": "noon\x00\ud800"}], "isError": False},
            "latency_ms": 4.25,
            "at": AT + 0.004,
            "correlation_id": CALL,
        },
        {
            **base,
            "hop": "client.response",
            "payload": None,
            "latency_ms": 5.0,
            "outcome": "error",
            "error_code": -32603,
            "error_message": "upstream failed: ünreachable",
            "at": AT + 0.005,
        },
        {
            **base,
            "hop": "policy.action",
            "detail": {
                "rule": "no-secrets",
                "detector": "regex",
                "count": 2,
                "score": 0.75,
                "weight": 1.0,
                "mode": "enforce",
                "kinds": {"aws_key": 2},
            },
            "at": AT + 0.006,
        },
        {
            "workspace_id": WORKSPACE_ID,
            "hop": "auth.denied",
            "correlation_id": CALL.hex.upper(),
            "detail": {"reason": "token expired"},
            "error_message": "x" * 600,
            "at": AT + 0.007,
        },
        {
            **base,
            "hop": "client.request",
            "payload": ["a", 1, 1.5, 2.0, float("nan"), ("t", "u")],
            "latency_ms": float("inf"),
            "at": AT + 0.008,
        },
        {**base, "hop": "upstream.response", "payload": "just a string", "at": AT + 0.009},
        {**base, "hop": "session.start", "at": AT + 0.010, "rpc_id": None},
    ]


def _large(i):
    text = ("Grüße aus Köln, 東京 and Zürich. " * 60) + str(i)
    return {"content": [{"type": "text", "text": text}], "meta": {"ratio": 0.5, "n": 3.0}}


def _truncated_entries():
    return [
        {
            "workspace_id": WORKSPACE_ID,
            "hop": "upstream.response",
            "correlation_id": str(CALL),
            "payload": _large(i),
            "at": AT + 1 + i,
        }
        for i in range(3)
    ] + [
        {
            "workspace_id": WORKSPACE_ID,
            "hop": "client.response",
            "correlation_id": str(CALL),
            "payload": {"small": 1.0, "ü": "fits"},
            "at": AT + 5,
        }
    ]


def _metadata_entries():
    return [
        {
            "workspace_id": WORKSPACE_ID,
            "hop": "client.request",
            "correlation_id": str(CALL),
            "payload": {"dropped": "entirely", "n": 1.0},
            "at": AT + 10,
        }
    ]


EXPECTED = [
    "ddc9b62d7885e7345876c7fba366fc4f5f3ca7712b56e7c58fef59d56001961f",
    "74b5cd9791f13e4eb74215d89923302a167995e9a8235da49b4871febce713a3",
    "44d0800d734ef68c2929e986681c832c8898e2987280760e877ab99123bed5bb",
    "3d0d8995ee7b47f6a5f63f783d92dd6a3235a6a1b1107ba81007cd58e88830dc",
    "a2c7dfc9fb0df96a095f54afc8bf1f791c5a667694b2a75d970d416f04d856cc",
    "2922b6d386283a9143d9594dd885eccd87161b80dac83e54240f7b63680ed655",
    "edeebf6a1ab33fa8d6f8fa5213a77ddbaac390952e69a41275dd80d9c7fe000c",
    "b308d8d1c874ded51676e672a732dc74cf0139f16b2429860ac56505b79942d2",
    "52aa7df82de815e2422cd8715613d8171f5f3f26f260e0b4a6c36a1b3e3c900e",
    "955610683f0bccef2d4455c3d4a40e2369e311cd960969659be4722d038e8e01",
    "71064425438f6cfa2aca49763c31a2333f0066c6421d55142da34cb54271f0de",
    "54f2c7b15cd0ee91603dd25f89224cac4e4bce318d5d6bca6b52c7ce1c16dbdf",
    "ae3cbd0d531a008188033405a2f476fb47853c36c14abb4ae3a4771370380cfd",
    "c69fe994214f2d230233e1d91dfd365b15679cc8cc7a876906f0941621524ea0",
]

STORED = {
    "sqlite": "b6500380d2393ed1146441d6b77cff773386ada6dca4aae43bb848839f91dc81",
    "postgresql": "676a6af9cbe3c55c90f942dbf590de371153a69d4fae9404cf220e54b5ab4434",
}


def test_stored_digests_never_change():
    Workspace.objects.create(pk=WORKSPACE_ID, slug="digests", name="Digests")
    forget_cached_policies()
    write_entries(_full_entries())
    LogPolicy.objects.create(workspace_id=WORKSPACE_ID, payload_mode="truncated", payload_max_kb=1)
    forget_cached_policies()
    write_entries(_truncated_entries())
    LogPolicy.objects.filter(workspace_id=WORKSPACE_ID).update(payload_mode="metadata")
    forget_cached_policies()
    write_entries(_metadata_entries())
    forget_cached_policies()

    rows = list(
        LogEntry.objects.filter(workspace_id=WORKSPACE_ID)
        .order_by("seq")
        .values(*MODEL_FIELDS, "payload_state")
    )
    # What the database returns hashes to what was stored, on either backend.
    for row in rows:
        assert digest_of(record_of(row)) == row["digest"]
    assert [r["payload_state"] for r in rows[-5:]] == [
        "truncated",
        "truncated",
        "truncated",
        "full",
        "omitted",
    ]
    assert verify_workspace(WORKSPACE_ID).ok
    stored = json.dumps([[r["payload"], r["detail"]] for r in rows], sort_keys=True)
    # PostgreSQL's jsonb hands 1e20 back as an integer; each backend's reading is pinned.
    assert hashlib.sha256(stored.encode()).hexdigest() == STORED[connection.vendor]
    assert [r["digest"] for r in rows] == EXPECTED
