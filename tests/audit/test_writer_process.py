"""The writer process: entries leave the serving process, and none is lost when the writer dies."""

import asyncio
import signal
import sys
import time

import pytest

from audit.log.chain import verify_workspace
from audit.log.writer_process import ProcessRecorder
from audit.models import LogEntry
from tests.support.audit_entries import call_hops

pytestmark = pytest.mark.django_db(transaction=True)


def _hops(workspace, calls, **kwargs):
    return [hop for _ in range(calls) for hop in call_hops(workspace, **kwargs)]


def _seqs(workspace):
    return list(
        LogEntry.objects.for_workspace(workspace).order_by("seq").values_list("seq", flat=True)
    )


def test_a_child_process_writes_the_entries_into_the_chain(acme, alice):
    recorder = ProcessRecorder(batch_size=100, flush_ms=50, queue_size=1000)

    async def burst():
        await asyncio.gather(*(recorder.record_async(hop) for hop in _hops(acme, 150, user=alice)))
        assert await recorder.aflush(timeout=30)

    asyncio.run(burst())
    child = recorder._child
    assert child is not None and child.pid and child.poll() is None
    assert recorder.written == 600 and recorder.skipped == 0
    assert 6 <= recorder.batches <= 600
    assert _seqs(acme) == list(range(1, 601))
    assert verify_workspace(acme.pk).ok
    assert recorder.shutdown(timeout=10)
    assert child.wait(timeout=10) == 0


def test_a_killed_writer_is_replaced_and_nothing_is_lost(acme, alice):
    recorder = ProcessRecorder(batch_size=50, flush_ms=20, queue_size=500)
    for hop in _hops(acme, 25, user=alice):
        recorder.record(hop)
    assert recorder.flush(timeout=30)
    first = recorder._child
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    for hop in _hops(acme, 100, user=alice):
        recorder.record(hop)
    assert recorder.flush(timeout=60)
    assert recorder._child is not first and recorder._child.poll() is None
    assert _seqs(acme) == list(range(1, 501))
    assert verify_workspace(acme.pk).ok
    recorder.shutdown(timeout=10)


def test_flush_returns_only_once_the_writer_committed(acme, alice):
    recorder = ProcessRecorder(batch_size=10_000, flush_ms=60_000, queue_size=1000)
    for hop in _hops(acme, 5, user=alice):
        recorder.record(hop)
    time.sleep(0.5)
    # A long window and a big batch: only the flush request makes the child commit.
    assert LogEntry.objects.for_workspace(acme).count() == 0
    assert recorder.flush(timeout=30)
    assert LogEntry.objects.for_workspace(acme).count() == 20
    recorder.shutdown(timeout=10)


def test_without_a_writer_process_the_thread_writes(acme, alice, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    recorder = ProcessRecorder(batch_size=50, flush_ms=20, queue_size=500)
    for hop in _hops(acme, 10, user=alice):
        recorder.record(hop)
    assert recorder.flush(timeout=30)
    assert recorder._child is None
    assert _seqs(acme) == list(range(1, 41))
    recorder.shutdown(timeout=10)


def test_a_payload_nested_too_deeply_to_pickle_is_kept_without_it(acme, alice):
    """An upstream may answer with JSON nested hundreds deep: the entry is written without its
    payload, and the forwarder goes on to the entries after it."""
    recorder = ProcessRecorder(batch_size=10, flush_ms=20, queue_size=100)
    deep = "x"
    for _ in range(5000):
        deep = [deep]
    hops = _hops(acme, 2, user=alice)
    hops[2] = {**hops[2], "payload": {"content": deep}}
    for hop in hops:
        recorder.record(hop)
    assert recorder.flush(timeout=30)
    entries = LogEntry.objects.for_workspace(acme).order_by("seq")
    assert entries.count() == 8 and recorder.skipped == 0
    kept = entries[2]
    assert kept.hop == hops[2]["hop"] and kept.payload == {"omitted": "nested too deeply to record"}
    assert verify_workspace(acme.pk).ok
    recorder.shutdown(timeout=10)
