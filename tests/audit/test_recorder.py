"""The recorder: batched, off the caller's thread, never dropping, drained on shutdown."""

import asyncio
import logging
import threading
import time

import pytest

from audit.log import entries
from audit.log.chain import verify_workspace
from audit.log.policy import update_log_policy
from audit.log.recorder import Recorder
from audit.models import LogEntry
from tests.support.audit_entries import call_hops

pytestmark = pytest.mark.django_db(transaction=True)


def _hops(workspace, calls, **kwargs):
    return [hop for _ in range(calls) for hop in call_hops(workspace, **kwargs)]


def test_it_writes_in_batches(acme, alice):
    recorder = Recorder(batch_size=50, flush_ms=1000, queue_size=1000)
    for hop in _hops(acme, 50, user=alice):
        recorder.record(hop)
    assert recorder.flush(timeout=10)
    assert LogEntry.objects.for_workspace(acme).count() == 200
    assert 4 <= recorder.batches <= 8
    assert recorder.written == 200
    recorder.shutdown()


def test_a_burst_bigger_than_the_queue_waits_and_loses_nothing(acme, alice):
    recorder = Recorder(batch_size=20, flush_ms=5, queue_size=10)
    waited = []

    async def client(n):
        for hop in _hops(acme, n, user=alice):
            started = time.perf_counter()
            await recorder.record_async(hop)
            waited.append(time.perf_counter() - started)

    async def burst():
        await asyncio.gather(*(client(25) for _ in range(8)))
        assert await recorder.aflush(timeout=30)

    asyncio.run(burst())
    assert len(waited) == 800
    assert max(waited) > 0.0005  # some callers had to wait for room: back-pressure
    seqs = list(LogEntry.objects.for_workspace(acme).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 801))
    assert verify_workspace(acme.pk).ok
    recorder.shutdown()


def test_sync_callers_block_while_the_queue_is_full_and_lose_nothing(acme, alice):
    recorder = Recorder(batch_size=15, flush_ms=5, queue_size=5)
    threads = [
        threading.Thread(target=lambda: [recorder.record(h) for h in _hops(acme, 20, user=alice)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert recorder.shutdown(timeout=30)
    assert LogEntry.objects.for_workspace(acme).count() == 320
    assert verify_workspace(acme.pk).ok


def test_shutdown_drains_everything_without_waiting_for_the_window(acme, alice):
    recorder = Recorder(batch_size=10_000, flush_ms=60_000, queue_size=10_000)
    for hop in _hops(acme, 75, user=alice):
        recorder.record(hop)
    started = time.monotonic()
    assert recorder.shutdown(timeout=30)
    assert time.monotonic() - started < 10
    assert LogEntry.objects.for_workspace(acme).count() == 300
    # Recording again after a shutdown starts a new writer.
    recorder.record(call_hops(acme)[0])
    assert recorder.flush(timeout=10)
    assert LogEntry.objects.for_workspace(acme).count() == 301
    recorder.shutdown()


def test_entries_are_stored_as_the_contract_says(acme, alice):
    recorder = Recorder(batch_size=10, flush_ms=10)
    hops = call_hops(acme, user=alice)
    for hop in hops:
        recorder.record(hop)
    recorder.shutdown(timeout=10)
    rows = list(LogEntry.objects.for_workspace(acme).order_by("seq"))
    assert [r.hop for r in rows] == [
        "client.request",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    assert len({r.correlation_id for r in rows}) == 1
    first, last = rows[0], rows[-1]
    assert first.session == entries.session_hash("sealed-session-id")
    assert "sealed-session-id" not in first.session
    assert (first.user_email, first.tool, first.upstream_tool) == (alice.email, "time__now", "now")
    assert first.payload == {"name": "time__now", "arguments": {"zone": "UTC"}}
    assert first.request_bytes == len(b'{"name":"time__now","arguments":{"zone":"UTC"}}')
    assert first.tokens_estimate > 0
    assert (last.latency_ms, last.outcome, last.payload_state) == (5.5, "ok", "full")
    assert first.at.microsecond or last.at.microsecond  # stored to the microsecond


def test_payload_policy_applies_at_write_time(acme, alice):
    big = {"name": "time__now", "arguments": {"blob": "x" * 5000}}
    update_log_policy(workspace=acme, actor=alice, payload_mode="truncated", payload_max_kb=1)
    recorder = Recorder(batch_size=10, flush_ms=10)
    recorder.record({**call_hops(acme)[0], "payload": big})
    assert recorder.flush(timeout=10)
    truncated = LogEntry.objects.for_workspace(acme).get()
    assert truncated.payload_state == "truncated"
    assert truncated.payload["truncated"] is True
    assert len(truncated.payload["head"].encode()) <= 1024
    assert truncated.request_bytes == truncated.payload["bytes"] > 5000
    assert truncated.tokens_estimate > 800  # measured on the whole payload, not the head

    update_log_policy(workspace=acme, actor=alice, payload_mode="metadata")
    recorder.record({**call_hops(acme)[0], "payload": big})
    recorder.shutdown(timeout=10)
    bare = LogEntry.objects.for_workspace(acme).order_by("seq").last()
    assert (bare.payload, bare.payload_state) == (None, "omitted")
    assert bare.request_bytes > 5000
    assert verify_workspace(acme.pk).ok


def test_unknown_keys_are_ignored_and_logged_once(acme, caplog):
    recorder = Recorder(batch_size=10, flush_ms=10)
    with caplog.at_level(logging.WARNING, logger="audit.log.entries"):
        for _ in range(3):
            recorder.record({**call_hops(acme)[0], "shoe_size": 44})
        recorder.shutdown(timeout=10)
    assert LogEntry.objects.for_workspace(acme).count() == 3
    warnings = [r for r in caplog.records if "shoe_size" in r.getMessage()]
    assert len(warnings) == 1


def test_an_entry_the_database_refuses_is_skipped_without_wedging_the_writer(acme, caplog):
    recorder = Recorder(batch_size=10, flush_ms=10)
    recorder.record({"hop": "auth.denied", "workspace_id": 987654})  # no such workspace
    recorder.record(call_hops(acme)[0])
    with caplog.at_level(logging.ERROR, logger="audit.log.recorder"):
        assert recorder.shutdown(timeout=10)
    assert LogEntry.objects.for_workspace(acme).count() == 1
    assert recorder.skipped == 1
    assert "workspace 987654" in caplog.text


def test_a_wrong_call_fails_where_it_is_made(acme):
    recorder = Recorder()
    with pytest.raises(ValueError, match="hop"):
        recorder.record({"hop": "client.sneeze", "workspace_id": acme.pk})
    with pytest.raises(ValueError, match="workspace_id"):
        recorder.record({"hop": "client.request"})
