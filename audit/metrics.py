"""Prometheus metrics for operators, derived from the audit entries by the audit writer.

The request path records nothing for metrics: every hop already becomes an audit entry, and
the writer (the writer process, or the writer thread with `AUDIT_WRITER=thread`) counts the
entries of each batch once it has committed them (`observe_written`). A call therefore shows
in the metrics a few hundred milliseconds after it ends (`AUDIT_FLUSH_MS`), and exactly when it
shows in the log. The serving process itself only touches metrics off its event loop (the
forwarder thread reports what is waiting to be written) or when it is already waiting (a full
queue).

Metrics are on when `METRICS_TOKEN` is set. Worker processes and their writer processes each
keep their values in memory-mapped files under `METRICS_DIR` (prometheus_client's
multi-process mode, switched on in `config.settings`), and a scrape of any worker adds them up.
The directory belongs to one run of the server: every process that writes to it holds a shared
lock on `.live.lock`, and the first process to start while nobody holds it (all processes of
the last run have exited) empties it. Starting processes take `.start.lock` first, so two
workers starting together never both empty it, nor one empty it under the other's new files.

Labels are bounded: the workspace and gateway slugs, the JSON-RPC method (names outside MCP
count as `other`), the outcome, the error code (JSON-RPC codes; others count as `other`), the
upstream server's name, and the tool only on upstream calls of `tools/call`, which exist only
for tools the gateway's curation exposes. No person, token, session, argument or URI is ever a
label.
"""

import fcntl
import logging
import os
import threading
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from teams.models import Workspace

logger = logging.getLogger(__name__)

ENABLED = bool(settings.METRICS_TOKEN)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
MCP_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "subscriptions/listen",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/update",
        "tasks/cancel",
    }
)
# JSON-RPC reserves these for protocol and implementation errors; any other code an upstream
# makes up is counted as "other".
_RPC_CODES = range(-32768, -31999)
_BLOCKED_REASONS = {
    "policy.tool_filtered": "curation",
    "auth.denied": "auth",
    "policy.limit_exceeded": "rate_limit",
    "policy.approval": "approval",
}


class _Metrics:
    """The metric families; built once per process, after it joined the run's directory."""

    def __init__(self):
        place = ("workspace", "gateway")
        self.calls = Counter(
            "gatehouse_calls",
            "Client calls answered, by JSON-RPC method and outcome (ok, error, blocked).",
            [*place, "method", "outcome"],
        )
        self.errors = Counter(
            "gatehouse_call_errors",
            "Client calls answered with a JSON-RPC error, by error code.",
            [*place, "method", "code"],
        )
        self.blocked = Counter(
            "gatehouse_blocked",
            "Refusals by policy: request_rule, response_rule, curation, auth, rate_limit.",
            [*place, "reason"],
        )
        self.latency = Histogram(
            "gatehouse_call_duration_seconds",
            "Time from a client's request to the gateway's answer.",
            [*place, "method"],
            buckets=LATENCY_BUCKETS,
        )
        self.upstream_calls = Counter(
            "gatehouse_upstream_calls",
            "Calls to upstream servers, by server, tool (tools/call only) and outcome.",
            [*place, "server", "method", "tool", "outcome"],
        )
        self.upstream_latency = Histogram(
            "gatehouse_upstream_duration_seconds",
            "Time an upstream server took to answer.",
            [*place, "server"],
            buckets=LATENCY_BUCKETS,
        )
        self.written = Counter("gatehouse_audit_entries_written", "Log entries committed.")
        self.skipped = Counter(
            "gatehouse_audit_entries_skipped", "Log entries the database refused outright."
        )
        self.batches = Counter("gatehouse_audit_batches", "Batches of log entries committed.")
        self.pending = Gauge(
            "gatehouse_audit_pending_entries",
            "Log entries queued or sent to a writer process and not yet committed.",
            multiprocess_mode="livesum",
        )
        self.waits = Counter(
            "gatehouse_audit_backpressure_waits",
            "Times a call waited for room in a full audit queue.",
        )
        self.restarts = Counter(
            "gatehouse_audit_writer_restarts", "Writer processes that died and were replaced."
        )
        self.held = Counter(
            "gatehouse_audit_answers_held",
            "Answers that waited for an audit writer behind its durability window.",
        )
        self.refused = Counter(
            "gatehouse_audit_answers_refused",
            "Calls refused because the audit writer did not catch up in time.",
        )
        self.disconnects = Counter(
            "gatehouse_client_disconnects",
            "Clients that closed their connection before their answer, by stage: request (before"
            " the whole request was read) or call (while the call ran).",
            ["stage"],
        )
        self.listener_failures = Counter(
            "gatehouse_cancellation_listener_failures",
            "Reads of the channel layer by the cancellation listener that failed (a Redis"
            " timeout or lost connection), each followed by a reconnect after a pause.",
            ["error"],
        )
        self.near_cache_failures = Counter(
            "gatehouse_near_cache_listener_failures",
            "Connections of the near cache's Redis listener that failed (a Redis timeout or lost"
            " connection), each followed by serving from Redis and a reconnect after a pause.",
            ["error"],
        )


_metrics: _Metrics | None = None
_lock = threading.Lock()
_live_lock_fd: int | None = None


def _get() -> _Metrics | None:
    global _metrics, ENABLED
    if _metrics is None:
        with _lock:
            if _metrics is None and ENABLED:
                if not getattr(values.ValueClass, "_multiprocess", False):
                    # prometheus_client was imported before the settings set
                    # PROMETHEUS_MULTIPROC_DIR: each process would count alone, unseen.
                    logger.error("metrics are off: prometheus_client is not in multi-process mode")
                    ENABLED = False
                    return None
                _join_run(Path(settings.METRICS_DIR))
                _metrics = _Metrics()
    return _metrics


def _join_run(directory: Path) -> None:
    """Hold the run's shared lock for the life of this process, emptying the directory first
    if no process of an earlier run still holds it."""
    global _live_lock_fd
    if _live_lock_fd is not None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    live = os.open(directory / ".live.lock", os.O_RDWR | os.O_CREAT, 0o600)
    start = os.open(directory / ".start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(start, fcntl.LOCK_EX)
        try:
            fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            for stale in directory.glob("*.db"):
                stale.unlink(missing_ok=True)
        fcntl.flock(live, fcntl.LOCK_SH)
    finally:
        os.close(start)
    _live_lock_fd = live


def _label(entry: dict, key: str) -> str:
    value = entry.get(key)
    return "" if value is None else str(value)


def _method(entry: dict) -> str:
    method = entry.get("method") or ""
    return method if method in MCP_METHODS else "other"


def _code(entry: dict) -> str:
    code = entry.get("error_code")
    if type(code) is int and code in _RPC_CODES:
        return str(code)
    return "none" if code is None else "other"


_workspace_slugs: dict[int, str] = {}


def _workspaces(batch: list[dict]) -> dict[int, str]:
    """Workspace slugs by id; looked up once per process (a renamed workspace keeps its old
    slug in the metrics until the writer restarts)."""
    missing = {entry["workspace_id"] for entry in batch} - _workspace_slugs.keys()
    if missing:
        found = dict(Workspace.objects.filter(pk__in=missing).values_list("pk", "slug"))
        for workspace_id in missing:
            _workspace_slugs[workspace_id] = found.get(workspace_id, str(workspace_id))
    return _workspace_slugs


def observe_written(batch: list[dict]) -> None:
    """Count a batch the writer committed. Never raises: metrics must not stop the log."""
    if not ENABLED:
        return
    try:
        _observe(batch)
    except Exception:
        logger.exception("metrics: could not count %d log entries", len(batch))


def _observe(batch: list[dict]) -> None:
    metrics = _get()
    if metrics is None:
        return
    slugs = _workspaces(batch)
    # The batch is tallied in plain dicts and each label set's metric is updated once: an
    # update of a shared-memory value costs a microsecond or more, a dict increment far less.
    counts: dict[tuple, int] = defaultdict(int)
    latencies: dict[tuple, list[float]] = defaultdict(list)
    for entry in batch:
        hop = entry["hop"]
        if hop == "client.response":
            place = (slugs[entry["workspace_id"]], _label(entry, "gateway_slug"))
            method = _method(entry)
            outcome = entry.get("outcome") or "ok"
            counts[metrics.calls, (*place, method, outcome)] += 1
            if outcome == "error":
                counts[metrics.errors, (*place, method, _code(entry))] += 1
            latency = entry.get("latency_ms")
            if isinstance(latency, int | float):
                latencies[metrics.latency, (*place, method)].append(latency / 1000)
        elif hop == "upstream.response":
            place = (slugs[entry["workspace_id"]], _label(entry, "gateway_slug"))
            server = _label(entry, "server_name")
            method = _method(entry)
            tool = _label(entry, "tool") if method == "tools/call" else ""
            outcome = entry.get("outcome") or "ok"
            counts[metrics.upstream_calls, (*place, server, method, tool, outcome)] += 1
            latency = entry.get("latency_ms")
            if isinstance(latency, int | float):
                latencies[metrics.upstream_latency, (*place, server)].append(latency / 1000)
        elif entry.get("outcome") == "blocked":
            if hop == "policy.action":
                direction = (entry.get("detail") or {}).get("direction")
                reason = "response_rule" if direction == "response" else "request_rule"
            else:
                reason = _BLOCKED_REASONS.get(hop)
            if reason:
                place = (slugs[entry["workspace_id"]], _label(entry, "gateway_slug"))
                counts[metrics.blocked, (*place, reason)] += 1
    for (counter, labels), count in counts.items():
        counter.labels(*labels).inc(count)
    for (histogram, labels), seconds in latencies.items():
        _observe_all(histogram.labels(*labels), seconds)
    metrics.written.inc(len(batch))
    metrics.batches.inc()


def _observe_all(histogram, seconds: list[float]) -> None:
    """`histogram.observe(s)` for each of `seconds`, with one update per bucket that moved.

    prometheus_client has no bulk observe; this does what `observe` does (one non-cumulative
    count per bucket, the first whose bound is not below the value, and the sum), falling back
    to it if a future version keeps its buckets differently.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in seconds:
            histogram.observe(value)
        return
    moved = [0] * len(bounds)
    for value in seconds:
        moved[bisect_left(bounds, value)] += 1
    total.inc(sum(seconds))
    for bucket, count in zip(buckets, moved, strict=True):
        if count:
            bucket.inc(count)


def _safely(update) -> None:
    if not ENABLED:
        return
    try:
        metrics = _get()
        if metrics is not None:
            update(metrics)
    except Exception:
        logger.exception("metrics: update failed")


def entry_skipped() -> None:
    _safely(lambda metrics: metrics.skipped.inc())


def pending(count: int) -> None:
    """How many entries this process has queued or in flight to its writer."""
    _safely(lambda metrics: metrics.pending.set(count))


def backpressure_wait() -> None:
    _safely(lambda metrics: metrics.waits.inc())


def writer_restarted() -> None:
    _safely(lambda metrics: metrics.restarts.inc())


def client_disconnected(*, stage: str) -> None:
    _safely(lambda metrics: metrics.disconnects.labels(stage=stage).inc())


def cancellation_listener_failed(error: BaseException) -> None:
    # The class name only: a bounded label (timeouts and connection errors, in practice).
    _safely(lambda metrics: metrics.listener_failures.labels(error=type(error).__name__).inc())


def near_cache_listener_failed(error: BaseException) -> None:
    _safely(lambda metrics: metrics.near_cache_failures.labels(error=type(error).__name__).inc())


def answer_held(*, refused: bool) -> None:
    """An answer waited for the audit writer (`audit/log/durability.py`); `refused`: in vain."""

    def update(metrics) -> None:
        metrics.held.inc()
        if refused:
            metrics.refused.inc()

    _safely(update)


def _forget_dead_processes(directory: str) -> None:
    """Drop the gauges of processes that are gone (counters of dead processes still count)."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            pass


def exposition() -> tuple[bytes, str]:
    """The text exposition of every process of this run, and its content type."""
    # A process that reads the directory is part of the run too: the first one after a
    # restart clears what the last run left before anything is read.
    _get()
    directory = str(settings.METRICS_DIR)
    Path(directory).mkdir(parents=True, exist_ok=True)
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry), CONTENT_TYPE_LATEST
