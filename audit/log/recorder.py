"""The batched, never-dropping writer of gateway log entries.

The data plane calls `await record_async(entry)` (or `record(entry)` from sync code) once per
hop; the entry keys are listed in `audit.log.entries`. The call only stamps the time and puts the
dict on a bounded in-memory list: no ORM, no I/O, a microsecond or two on the event loop. The
recorder owns the dict from then on; do not change it after the call.

A dedicated writer thread takes entries off the queue and writes them in batches of up to
`AUDIT_BATCH_SIZE`, or whatever arrived within `AUDIT_FLUSH_MS` of the first one, in one
transaction per batch that also links them into each workspace's hash chain (`audit.log.chain`) and
applies each workspace's payload policy (`audit.log.policy`). Why a thread rather than an
asyncio task: the ORM is synchronous, and `sync_to_async` would queue the writes on the one
thread Django shares for all sync work of the process (token lookups included), so a slow
commit would stall requests; a thread with its own database connection works the same under
uvicorn, daphne and in a Celery worker or a management command, none of which share a loop.

With `AUDIT_WRITER=process` (the default), `audit.log.writer_process.ProcessRecorder` keeps this
calling side and these guarantees but moves the writing into a child process; the thread then
only forwards entries to it.

Guarantees:

* **Back-pressure, never loss.** When the queue (`AUDIT_QUEUE_SIZE`) is full, `record_async`
  waits (asynchronously) for room and `record` blocks its thread: calls slow down instead of
  entries being dropped. When the database fails, the writer keeps the batch and retries with a
  growing pause (up to 5 s), so the queue fills and back-pressure reaches the callers.
* **Graceful shutdown drains.** `flush()` / `await aflush()` return once everything recorded
  before the call is committed; `shutdown()` flushes and stops the thread. The ASGI lifespan
  shutdown calls `aflush()`; an `atexit` hook calls `shutdown()` for servers that send no
  lifespan events.
* **A crash loses at most what was still queued**: the entries of the last `AUDIT_FLUSH_MS`
  window under normal load, up to `AUDIT_QUEUE_SIZE` entries if the database had fallen behind.
  Lower `AUDIT_FLUSH_MS` to narrow the window at the cost of more, smaller transactions.
* Entries a database refuses outright (their workspace was deleted meanwhile) are logged at
  error level and skipped, so they cannot wedge the writer.
* A forked child starts with an empty queue and its own writer thread (the parent writes what it
  had queued).
"""

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction

from audit import metrics, tracing
from audit.alerts import raising
from audit.log import chain, entries, payloads
from audit.log.partitions import prepare_partitions
from audit.log.policy import apply_payload_policy, payload_rules
from audit.models import PayloadState

logger = logging.getLogger(__name__)

_STOP = object()
_MAX_RETRY_PAUSE = 5.0


def write_entries(batch: list[dict]) -> int:
    """Write entries on the calling thread's connection, in one transaction; returns the count.

    This is what the writer thread runs for every batch; tests and commands may call it
    directly to write synchronously.
    """
    by_workspace: dict[int, list[dict]] = {}
    memo = entries.BatchMemo()
    for entry in batch:
        by_workspace.setdefault(entry["workspace_id"], []).append(entries.to_row(entry, memo))
    rules = payload_rules(by_workspace)
    for workspace_id, rows in by_workspace.items():
        for row in rows:
            row["payload"], row["payload_state"] = apply_payload_policy(
                row["payload"], rules[workspace_id]
            )
            if row["payload_form"] and row["payload_state"] == PayloadState.FULL:
                row["payload_state"] = row["payload_form"]
    payloads.count_shared_tokens(batch_rows for batch_rows in by_workspace.values())
    # Heads are locked in workspace order, so two writers never wait on each other in a cycle.
    with transaction.atomic():
        for workspace_id in sorted(by_workspace):
            chain.append(workspace_id, by_workspace[workspace_id])
            raising.from_log_rows(workspace_id, by_workspace[workspace_id])
    return len(batch)


class Counters:
    """What a writer has done: entries written, batches committed, entries skipped."""

    written = 0
    batches = 0
    skipped = 0


class Recorder(Counters):
    """A bounded list of pending entries and the thread that drains it; one per process is the
    norm.

    Callers append under a lock (no `queue.Queue`: its condition variables cost a lock hand-off
    per entry) and the thread takes everything pending at once. The thread is woken only by the
    first entry after it went idle, then lets a window's worth gather, so a busy server wakes it
    once per window rather than once per entry.
    """

    def __init__(self, *, batch_size=None, flush_ms=None, queue_size=None):
        self.batch_size = batch_size or settings.AUDIT_BATCH_SIZE
        self.flush_seconds = (flush_ms if flush_ms is not None else settings.AUDIT_FLUSH_MS) / 1000
        self.queue_size = queue_size or settings.AUDIT_QUEUE_SIZE
        self._start_lock = threading.Lock()
        self._reset()
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (r := this()) and r._reset())
        atexit.register(lambda: (r := this()) and r.shutdown())

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: list = []
        self._wake = threading.Event()  # something is pending
        self._urgent = threading.Event()  # do not wait for the window: a batch is full, or a flush
        self._thread: threading.Thread | None = None
        # When the oldest entry not yet written arrived (monotonic), for the durability gate:
        # `_pending_since` for what waits in `_pending`, `_taken_since` for what the thread took.
        self._pending_since: float | None = None
        self._taken_since: float | None = None
        self._cycle_since: float | None = None
        # True once the writer can write (a writer process: Django set up, database connected).
        self.ready = False
        self._ready = threading.Event()
        self.written = 0
        self.batches = 0
        self.skipped = 0

    # -- the calling side -------------------------------------------------------------------

    def _put(self, item, *, bounded: bool = True) -> bool:
        with self._lock:
            waiting = len(self._pending)
            if bounded and waiting >= self.queue_size:
                return False
            if waiting == 0:
                self._pending_since = time.monotonic()
            self._pending.append(item)
        if waiting == 0:
            self._wake.set()
        elif waiting + 1 == self.batch_size:
            self._urgent.set()
        return True

    def record(self, entry: dict) -> None:
        """Queue one entry; blocks the calling thread while the queue is full."""
        entries.check(entry)
        entry.setdefault("at", time.time())
        if self._thread is None:
            self._start()
        pause = 0.001
        while not self._put(entry):
            if pause == 0.001:
                metrics.backpressure_wait()
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def record_async(self, entry: dict) -> None:
        """Queue one entry; while the queue is full, waits without blocking the event loop."""
        entries.check(entry)
        entry.setdefault("at", time.time())
        if self._thread is None:
            self._start()
        pause = 0.001
        while not self._put(entry):
            if pause == 0.001:
                metrics.backpressure_wait()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is committed; False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._put(done, bounded=False)
        self._urgent.set()
        return done.wait(timeout)

    async def aflush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.flush, timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the writer thread. Recording again starts a new one."""
        timeout = settings.AUDIT_SHUTDOWN_TIMEOUT_SECONDS if timeout is None else timeout
        with self._start_lock:
            thread = self._thread
            if thread is None:
                return True
            flushed = self.flush(timeout)
            self._put(_STOP, bounded=False)
            self._urgent.set()
            thread.join(timeout=1)
            with self._lock:
                left = sum(1 for item in self._pending if isinstance(item, dict))
            if left:
                logger.error("audit writer stopped with %d entries not written", left)
            self._thread = None
            self._set_ready(False)
            # A writer thread's spans wait in the exporter's batch (a writer process sends its
            # own before it exits).
            tracing.flush()
            return flushed and not left

    def oldest_unwritten(self) -> float | None:
        """When (`time.monotonic()`) the oldest entry not yet committed was queued; None when
        everything queued is written."""
        since = self._taken_since
        return since if since is not None else self._pending_since

    def start(self, timeout: float | None = None) -> bool:
        """Start the writer now rather than on the first entry, and wait until it can write;
        False if it was not ready within `timeout`."""
        if self._thread is None:
            self._start()
        return self._ready.wait(timeout)

    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        if ready:
            self._ready.set()
        else:
            self._ready.clear()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        prepare_partitions()
        self._set_ready(True)
        try:
            while self._cycle(None, self.flush_seconds):
                metrics.pending(len(self._pending))
        finally:
            connection.close()

    def _cycle(self, timeout: float | None, window: float) -> bool:
        """Wait (up to `timeout`) for something pending, let `window` seconds' worth gather,
        then pass everything pending on in batches. False once told to stop."""
        if not self._wake.wait(timeout):
            return True
        self._wake.clear()
        if window > 0:
            self._urgent.wait(window)
        self._urgent.clear()
        with self._lock:
            items, self._pending = self._pending, []
            self._cycle_since, self._pending_since = self._pending_since, None
            if self._taken_since is None:
                self._taken_since = self._cycle_since
        batch: list[dict] = []
        markers: list[threading.Event] = []
        for item in items:
            if item is _STOP:
                self._pass_on(batch, markers)
                self._settle()
                return False
            if isinstance(item, threading.Event):
                markers.append(item)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._write(batch)
                batch = []
        self._pass_on(batch, markers)
        self._settle()
        return True

    def _settle(self) -> None:
        """A cycle passed everything it took on: nothing it took is waiting any more."""
        self._cycle_since = None
        self._taken_since = None

    def _pass_on(self, batch: list[dict], markers: list[threading.Event]) -> None:
        if batch:
            self._write(batch)
        if markers:
            self._mark(markers)

    def _write(self, batch: list[dict]) -> None:
        write_batch(batch, self)

    def _mark(self, markers: list[threading.Event]) -> None:
        """Everything before these flush markers is written: release whoever waits on them."""
        for marker in markers:
            marker.set()


def write_batch(batch: list[dict], counters: Counters) -> None:
    """Write one batch on this thread's connection: retry while the database is down, and skip,
    one by one, the entries it refuses outright."""
    pause = 0.05
    while True:
        # The writer keeps its connection between batches (reconnecting per batch cost more
        # than the batch on SQLite); it only drops one that failed and no longer answers.
        if connection.connection is not None and connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
        try:
            written = write_entries(batch)
        except (IntegrityError, DataError) as exc:
            refused = exc
        except DatabaseError:
            # The database is down or busy: keep the batch; the queue applies back-pressure.
            logger.exception("audit writer: writing %d entries failed; retrying", len(batch))
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, _MAX_RETRY_PAUSE)
            continue
        except Exception as exc:
            refused = exc
        else:
            counters.written += written
            counters.batches += 1
            # Operators' metrics and traces come from what was committed, off the request path.
            metrics.observe_written(batch)
            tracing.export_written(batch)
            return
        break
    if len(batch) > 1:
        # One by one, so one refused entry cannot take its batch down with it.
        for entry in batch:
            write_batch([entry], counters)
        return
    counters.skipped += 1
    metrics.entry_skipped()
    logger.error(
        "audit writer: could not store a %s entry of workspace %s; skipped",
        batch[0].get("hop"),
        batch[0].get("workspace_id"),
        exc_info=refused,
    )
