"""Delivery of log entries to SIEM sinks: at-least-once, in order, resumable after an outage.

* **In order.** Entries are read by `seq` after the sink's cursor, one batch at a time, and a
  batch is sent only once the one before it was accepted.
* **Nothing skipped.** Writers take seqs under the workspace's chain-head lock and commit before
  the next writer can take any (`audit.log.chain`), so when seq N is visible every lower seq is
  committed too: the cursor cannot pass an entry that is still in flight.
* **At-least-once.** The cursor moves only after the sink accepted the batch. A crash between
  the two sends that batch again; receivers dedupe on `seq`.
* **One worker per sink.** A worker claims a sink with a lease, taken by a conditional UPDATE
  (after `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers pass over a sink another
  one is claiming), and moves the cursor only under the lease it took. The network I/O runs
  outside any transaction, so a slow sink never holds a database lock (on SQLite a write
  transaction would block every log writer meanwhile).
* **Outages.** A failed attempt keeps the cursor, records the error, and sets the next attempt
  `SIEM_RETRY_BASE_SECONDS` later, doubled per consecutive failure up to
  `SIEM_RETRY_MAX_SECONDS`: a sink that is down costs one attempt per window, never a tight
  loop. Once it answers again, delivery resumes at the cursor.
* Entries retention deletes before a sink got them (an outage longer than the retention) are
  gone; the jump in `seq` shows where.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.log.chain import format_time
from audit.log.export import records
from audit.models import ChainHead, LogEntry, LogSink
from audit.sinks import REGISTRY
from audit.sinks.base import SinkFailure
from core import crypto

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What one run did for one sink."""

    sink_id: int
    name: str
    delivered: int
    cursor_seq: int
    error: str = ""


def _lease() -> timedelta:
    # A batch may wait on a connect, a write and a close, each bounded by the timeout.
    return timedelta(seconds=settings.SIEM_TIMEOUT_SECONDS * 4 + 30)


def _due(queryset, *, now, ignore_backoff: bool):
    queryset = queryset.filter(enabled=True).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )
    if not ignore_backoff:
        queryset = queryset.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return queryset


def sinks_with_work(*, workspace=None, ignore_backoff: bool = False, now=None):
    """Enabled sinks whose cursor is behind their workspace's newest entry and that are due."""
    now = now or timezone.now()
    head = ChainHead.objects.filter(workspace_id=OuterRef("workspace_id")).values("seq")[:1]
    queryset = (
        LogSink.objects.all() if workspace is None else LogSink.objects.for_workspace(workspace)
    )
    return (
        _due(queryset, now=now, ignore_backoff=ignore_backoff)
        .annotate(head_seq=Subquery(head))
        .filter(cursor_seq__lt=F("head_seq"))
        .order_by("next_attempt_at", "pk")
    )


def claim(sink_id: int, *, now=None, ignore_backoff: bool = False) -> str | None:
    """Take the sink's lease; returns its token, or None when another worker holds it."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    due = _due(LogSink.objects.filter(pk=sink_id), now=now, ignore_backoff=ignore_backoff)
    with transaction.atomic():
        skip_locked = connection.features.has_select_for_update_skip_locked
        if skip_locked and not due.select_for_update(skip_locked=True).values_list("pk"):
            return None
        # The conditions are evaluated again by the UPDATE itself: only one claimer wins.
        taken = due.update(lease_token=token, lease_until=now + _lease())
    return token if taken else None


def _release(sink_id: int, token: str) -> None:
    LogSink.objects.filter(pk=sink_id, lease_token=token).update(lease_token="", lease_until=None)


def secret_of(sink) -> dict:
    if not sink.secret:
        return {}
    try:
        return crypto.decrypt(sink.secret)
    except crypto.UndecryptableSecret as exc:
        raise SinkFailure("the sink's secret cannot be decrypted (were the keys changed?)") from exc


def transport_for(sink):
    return REGISTRY[sink.kind](sink, secret_of(sink))


def _batch(sink, cursor: int) -> list[dict]:
    entries = LogEntry.objects.for_workspace(sink.workspace_id).filter(seq__gt=cursor)
    last = list(
        entries.order_by("seq").values_list("seq", flat=True)[sink.batch_size - 1 : sink.batch_size]
    )
    if last:
        entries = entries.filter(seq__lte=last[0])
    # Entries committed between the two reads may join a short batch; the cap still holds.
    return list(islice(records(entries, with_payloads=sink.include_payloads), sink.batch_size))


def _failed(sink, token: str, reason: str) -> None:
    now = timezone.now()
    failures = sink.failures + 1
    delay = min(
        settings.SIEM_RETRY_BASE_SECONDS * 2 ** min(failures - 1, 30),
        settings.SIEM_RETRY_MAX_SECONDS,
    )
    LogSink.objects.filter(pk=sink.pk, lease_token=token).update(
        failures=failures,
        last_error=reason[:500],
        next_attempt_at=now + timedelta(seconds=delay),
        failing_since=Coalesce(F("failing_since"), Value(now, output_field=DateTimeField())),
    )
    logger.warning("SIEM sink %s (%s) failed: %s", sink.pk, sink.name, reason)


def deliver_sink(
    sink_id: int, *, max_batches: int | None = None, ignore_backoff: bool = False
) -> Delivery | None:
    """Send the sink what it has not accepted yet, up to `max_batches` batches.

    Returns None when the sink is not due, disabled, or being delivered by another worker.
    """
    token = claim(sink_id, ignore_backoff=ignore_backoff)
    if token is None:
        return None
    sink = LogSink.objects.select_related("workspace").get(pk=sink_id)
    cursor, delivered = sink.cursor_seq, 0
    try:
        transport = transport_for(sink)
        for _ in range(max_batches or settings.SIEM_MAX_BATCHES_PER_RUN):
            batch = _batch(sink, cursor)
            if not batch:
                break
            transport.send(batch)
            last = batch[-1]["seq"]
            now = timezone.now()
            moved = LogSink.objects.filter(pk=sink_id, lease_token=token, cursor_seq=cursor).update(
                cursor_seq=last,
                last_success_at=now,
                failures=0,
                failing_since=None,
                last_error="",
                next_attempt_at=None,
                lease_until=now + _lease(),
            )
            if not moved:
                break  # the lease ran out and another worker took over from the cursor
            cursor, delivered = last, delivered + len(batch)
            sink.failures = 0
            if len(batch) < sink.batch_size:
                break
    except SinkFailure as exc:
        _failed(sink, token, exc.reason)
        return Delivery(sink_id, sink.name, delivered, cursor, exc.reason)
    finally:
        _release(sink_id, token)
    return Delivery(sink_id, sink.name, delivered, cursor)


def deliver_due(*, workspace=None, ignore_backoff: bool = False) -> list[Delivery]:
    """One pass over every sink with something to send; each is delivered by one worker only."""
    done = []
    for sink_id in list(
        sinks_with_work(workspace=workspace, ignore_backoff=ignore_backoff).values_list(
            "pk", flat=True
        )
    ):
        result = deliver_sink(sink_id, ignore_backoff=ignore_backoff)
        if result is not None:
            done.append(result)
    return done


def probe_record(sink) -> dict:
    """An entry-shaped event, not from the log, that says the sink works (`hop` `sink.test`)."""
    now = datetime.now(UTC)
    return {
        "id": None,
        "workspace_id": sink.workspace_id,
        "seq": 0,
        "at": format_time(now),
        "hop": "sink.test",
        "correlation_id": str(uuid.uuid4()),
        "outcome": "ok",
        "detail": {"message": f"Test event from Gatehouse for sink '{sink.name}'."},
    }


def send_test(sink) -> str:
    """Send one test event; returns the failure reason, or "" when the sink accepted it."""
    try:
        transport_for(sink).send([probe_record(sink)])
    except SinkFailure as exc:
        return exc.reason
    return ""
