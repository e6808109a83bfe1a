"""The audit writer in a process of its own (`AUDIT_WRITER=process`, the default).

Turning an entry into a chained log row costs far more CPU than serving the hop it describes
(cleaning, sizing and hashing the payload, the SQL insert). On a writer thread that work holds
the interpreter lock the request loop needs, so a busy gateway spent about half its time
writing its own log. Here the serving process only hands entries over and a child process,
started on the first entry, writes them:

* The calling side is `Recorder`'s: the bounded pending list, back-pressure, `flush()` markers.
* A forwarder thread takes what is pending, pickles it in chunks (one C call per chunk) and
  sends it down a pipe, numbering each chunk. The child batches chunks as the thread writer
  does (`AUDIT_BATCH_SIZE`, `AUDIT_FLUSH_MS`), writes them with the same retry and skip rules,
  and acknowledges the last chunk each commit covered.
* Chunks stay with the forwarder until acknowledged. If the child dies, a new one is started
  and every unacknowledged chunk is sent again: nothing is lost, though a child killed between
  a commit and its acknowledgement leaves that batch written twice. At most `AUDIT_QUEUE_SIZE`
  entries are in flight; beyond that the forwarder waits for acknowledgements and the queue
  fills, so back-pressure still reaches the callers.
* A `flush()` marker is sent as a flush request: the child commits at once and the marker is
  set when the acknowledgement arrives. `shutdown()` drains, then tells the child to stop.
* The child reads the parent's resolved database settings from its first message, so it writes
  to the same database as its parent (a test database included), and it exits by itself when
  the parent goes away (end of file on its pipe).
* The child says it is ready on its acknowledgement pipe once Django is set up and its database
  connection is open (about a second); until then, and while a replacement starts, the recorder
  is not `ready`, and the durability gate (`audit/log/durability.py`) holds answers back. The
  ASGI lifespan starts the writer and waits for this before the server takes traffic.
"""

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from django.conf import settings
from django.db import connections

from audit import metrics
from audit.log.entries import clean_json
from audit.log.recorder import Recorder

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
# How long the forwarder lets entries gather before it pickles and sends them: each round wakes
# the thread and hands the interpreter lock over and back, and the child commits by
# AUDIT_FLUSH_MS anyway, so a round per 20 ms rather than per 5 ms costs the loop less.
_GATHER_SECONDS = 0.02
_RESTART_PAUSE = 0.5


class ProcessRecorder(Recorder):
    """`Recorder` whose thread forwards entries to a writer process instead of writing."""

    def _reset(self) -> None:
        # After a fork the child must not keep the parent's pipes (its writer would then never
        # see end of file); it starts its own writer on its first entry.
        for conn in (getattr(self, "_send", None), getattr(self, "_acks", None)):
            if conn is not None:
                conn.close()
        super()._reset()
        self._child: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._acks: Connection | None = None
        self._sent = 0
        self._in_flight: dict[int, tuple[bytes, int]] = {}
        self._in_flight_entries = 0
        self._waiting: list[tuple[int, threading.Event]] = []
        self._pending_reported = 0

    # -- the forwarder thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._spawn()
        except Exception:
            logger.exception("audit writer: no writer process; writing on this thread instead")
            super()._run()
            return
        self._set_ready(True)
        try:
            # The window only lets a chunk gather: the child batches by AUDIT_FLUSH_MS itself.
            while self._cycle(_POLL_SECONDS, _GATHER_SECONDS):
                self._read_acks(0)
                self._report_pending()
            self._finish()
        except Exception:
            logger.exception("audit writer: the forwarder stopped")
            raise

    def _write(self, batch: list[dict]) -> None:
        if self._send is None:  # no child could start: this thread writes
            super()._write(batch)
        else:
            self._forward(batch)

    def _forward(self, batch: list[dict]) -> None:
        while self._in_flight_entries >= self.queue_size:
            self._read_acks(_POLL_SECONDS)
        self._sent += 1
        try:
            frame = pickle.dumps(("entries", self._sent, batch), pickle.HIGHEST_PROTOCOL)
        except Exception:
            # An object pickle refuses: store it as the writer would, as cleaned JSON.
            batch = [_picklable(entry) for entry in batch]
            frame = pickle.dumps(("entries", self._sent, batch), pickle.HIGHEST_PROTOCOL)
        self._in_flight[self._sent] = (frame, len(batch), self._cycle_since)
        self._in_flight_entries += len(batch)
        self._deliver(frame)

    def _oldest_in_flight(self) -> float | None:
        # Chunks are numbered in the order their entries were taken: the first is the oldest.
        if self._in_flight:
            return self._in_flight[min(self._in_flight)][2]
        return self._cycle_since

    def _settle(self) -> None:
        self._cycle_since = None
        self._taken_since = self._oldest_in_flight()

    def _report_pending(self) -> None:
        if not metrics.ENABLED:
            return
        pending = len(self._pending) + self._in_flight_entries
        if pending != self._pending_reported:
            self._pending_reported = pending
            metrics.pending(pending)

    def _mark(self, markers: list[threading.Event]) -> None:
        if not self._in_flight:
            for marker in markers:
                marker.set()
            return
        self._waiting.extend((self._sent, marker) for marker in markers)
        self._deliver(pickle.dumps(("flush", self._sent)))

    def _finish(self) -> None:
        """Stop: wait until the child acknowledged everything, then let it exit."""
        while self._in_flight:
            self._read_acks(_POLL_SECONDS)
        self._deliver(pickle.dumps(("stop",)))
        if self._child is not None:
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
        self._close_pipes()
        self._child = None
        for _, marker in self._waiting:
            marker.set()
        self._waiting.clear()

    def _deliver(self, frame: bytes) -> None:
        try:
            self._send.send_bytes(frame)
        except OSError:
            self._restart()

    def _read_acks(self, timeout: float) -> None:
        try:
            while self._acks.poll(timeout):
                timeout = 0
                _, upto, written, batches, skipped = pickle.loads(self._acks.recv_bytes())  # noqa: S301 (our child's pipe)
                self.written += written
                self.batches += batches
                self.skipped += skipped
                for n in [n for n in self._in_flight if n <= upto]:
                    self._in_flight_entries -= self._in_flight.pop(n)[1]
                self._taken_since = self._oldest_in_flight()
                done = [w for w in self._waiting if w[0] <= upto]
                self._waiting = [w for w in self._waiting if w[0] > upto]
                for _, marker in done:
                    marker.set()
        except (EOFError, OSError):
            self._restart()

    # -- the child --------------------------------------------------------------------------

    def _spawn(self) -> None:
        entries_read, entries_write = os.pipe()
        acks_read, acks_write = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        if settings.SETTINGS_MODULE:
            env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
        self._child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "audit.log.writer_child", str(entries_read), str(acks_write)],
            pass_fds=(entries_read, acks_write),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(entries_read)
        os.close(acks_write)
        self._send = Connection(entries_write, readable=False)
        self._acks = Connection(acks_read, writable=False)
        databases = {alias: dict(connections[alias].settings_dict) for alias in connections}
        config = (databases, self.batch_size, self.flush_seconds)
        self._send.send_bytes(pickle.dumps(("config", config)))
        self._await_ready()

    def _await_ready(self) -> None:
        """Wait for the child's word that it can write; EOFError if it died first."""
        while not self._acks.poll(_POLL_SECONDS * 10):
            if self._child.poll() is not None:
                raise EOFError(f"the audit writer process exited ({self._child.returncode})")
        message = pickle.loads(self._acks.recv_bytes())  # noqa: S301 (our child's pipe)
        assert message[0] == "ready"  # noqa: S101 (the child always sends it first)

    def _restart(self) -> None:
        """The child died: start another and send it every unacknowledged chunk again."""
        code = self._child.poll() if self._child is not None else None
        logger.error("audit writer process exited (%s); restarting it", code)
        self._set_ready(False)
        metrics.writer_restarted()
        if self._child is not None:
            self._child.kill()
            self._child.wait()
        self._close_pipes()
        time.sleep(_RESTART_PAUSE)
        while True:
            try:
                self._spawn()
                break
            except (EOFError, OSError):
                # The replacement died before it was ready: answers stay held; try again.
                logger.exception("audit writer process did not start; trying again")
                if self._child is not None:
                    self._child.kill()
                    self._child.wait()
                self._close_pipes()
                time.sleep(_RESTART_PAUSE)
        for n in sorted(self._in_flight):
            self._send.send_bytes(self._in_flight[n][0])
        if self._waiting:
            self._send.send_bytes(pickle.dumps(("flush", self._sent)))
        self._set_ready(True)

    def _close_pipes(self) -> None:
        for conn in (self._send, self._acks):
            if conn is not None:
                conn.close()
        self._send = self._acks = None


def _picklable(entry: dict) -> dict:
    try:
        pickle.dumps(entry)
    except Exception:
        try:
            return {key: clean_json(value) for key, value in entry.items()}
        except RecursionError:
            # A payload nested deeper than any walk can go (an upstream's answer, say): the
            # entry is kept without it, rather than stopping the forwarder and every later entry.
            kept = {k: clean_json(v) for k, v in entry.items() if k not in ("payload", "detail")}
            return {**kept, "payload": {"omitted": "nested too deeply to record"}}
    return entry
