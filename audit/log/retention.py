"""Retention: deleting each workspace's log entries once they are older than its policy allows.

Retention deletes the oldest stretch of a workspace's chain, never a hole in it: it walks the
chain from its start in `seq` order, `AUDIT_PURGE_BATCH_SIZE` entries at a time, and deletes
each run of entries older than the cutoff by `seq` range (the unique `(workspace, seq)` index)
in its own short transaction, stopping at the first entry that is still within retention. (An
entry written a moment before a newer one by another worker may so outlive its cutoff by a day;
a hole would break verification.) Each transaction moves the chain head's anchor to the last
deleted entry, so verification starts from there: it checks that the oldest remaining entry's
`prev_digest` is the anchor's digest.

On PostgreSQL, where the table has a partition per day (`audit.log.partitions`), a workspace's
cutoff is the start of the UTC day its retention ends in, so its entries go by whole days: kept
at least the retention's days, and less than a day longer. A day partition whose every workspace
is past its cutoff is dropped whole, with no row deleted one by one: for each workspace in it,
the anchor moves to its newest entry there first, and the few entries with a lower seq stored in
another partition (written out of time order at the day's edges) are deleted with it. If one of
those is still within retention, the partition waits for a later run, so the chain keeps no
hole. Then the row-by-row walk above deletes what remains past each cutoff: entries in the DEFAULT
partition, and those of a workspace whose retention is shorter than another's that shares their
day.
"""

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.log import partitions
from audit.models import ChainHead, LogEntry, LogPolicy

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = LogPolicy._meta.get_field("retention_days").default


def purge_workspace(workspace_id: int, *, cutoff, batch_size: int | None = None) -> int:
    """Delete the workspace's entries older than `cutoff` from the start of its chain."""
    batch_size = batch_size or settings.AUDIT_PURGE_BATCH_SIZE
    deleted = _remnants_below_anchor(workspace_id)
    while True:
        with transaction.atomic():
            head = ChainHead.objects.select_for_update().filter(workspace_id=workspace_id).first()
            if head is None:
                return deleted
            oldest = list(
                LogEntry.objects.for_workspace(workspace_id)
                .filter(seq__gt=head.anchor_seq)
                .order_by("seq")
                .values_list("seq", "at", "digest")[:batch_size]
            )
            expired = 0
            while expired < len(oldest) and oldest[expired][1] < cutoff:
                expired += 1
            if not expired:
                return deleted
            last_seq, _at, last_digest = oldest[expired - 1]
            count, _ = (
                LogEntry.objects.for_workspace(workspace_id)
                .filter(seq__gt=head.anchor_seq, seq__lte=last_seq)
                .delete()
            )
            ChainHead.objects.filter(workspace_id=workspace_id).update(
                anchor_seq=last_seq, anchor_digest=last_digest
            )
        deleted += count
        if expired < len(oldest) or len(oldest) < batch_size:
            return deleted


def _remnants_below_anchor(workspace_id: int) -> int:
    """Delete the workspace's entries at or below its anchor: already past retention, left by
    a partition whose anchors moved but which could not be dropped yet (a lock timeout)."""
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().filter(workspace_id=workspace_id).first()
        if head is None or not head.anchor_seq:
            return 0
        count, _ = (
            LogEntry.objects.for_workspace(workspace_id).filter(seq__lte=head.anchor_seq).delete()
        )
    return count


def _release(partition, workspace_id: int, top: int, digest: str, cutoff) -> int | None:
    """Move the workspace's anchor to its newest entry in `partition` (seq `top`), deleting its
    entries up to `top` stored elsewhere; returns how many those were, or None, changing
    nothing, if one of them is still within retention."""
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().get(workspace_id=workspace_id)
        if top <= head.anchor_seq:
            return 0
        elsewhere = (
            LogEntry.objects.for_workspace(workspace_id)
            .filter(seq__gt=head.anchor_seq, seq__lte=top)
            .exclude(at__gte=partition.start, at__lt=partition.end)
        )
        if elsewhere.filter(at__gte=cutoff).exists():
            return None
        strays, _ = elsewhere.delete()
        head.anchor_seq, head.anchor_digest = top, digest
        head.save(update_fields=["anchor_seq", "anchor_digest"])
    return strays


def _waits(partition, workspace_id: int, top: int, cutoff) -> bool:
    """Whether an entry of the workspace below `top`, stored in another partition, is still
    within retention (the partition must then wait)."""
    anchor = (
        ChainHead.objects.filter(workspace_id=workspace_id)
        .values_list("anchor_seq", flat=True)
        .first()
    )
    return (
        LogEntry.objects.for_workspace(workspace_id)
        .filter(seq__gt=anchor or 0, seq__lte=top, at__gte=cutoff)
        .exclude(at__gte=partition.start, at__lt=partition.end)
        .exists()
    )


def drop_expired_partitions(cutoffs: dict) -> Counter:
    """Drop, oldest first, the day partitions that end before every workspace's cutoff; returns
    {workspace id: entries gone}. Stops at the first one that cannot go yet."""
    deleted: Counter = Counter()
    if not cutoffs:
        return deleted
    horizon = min(cutoffs.values())
    for partition in partitions.partitions():
        if partition.end > horizon:
            break
        held = partitions.contents(partition)
        # Every workspace is checked before any anchor moves: an anchor moved for one while
        # another keeps the partition would leave the first one's rows below its anchor.
        if any(
            _waits(partition, workspace_id, top, cutoffs[workspace_id])
            for workspace_id, (_rows, top, _digest) in held.items()
            if workspace_id in cutoffs
        ):
            return deleted
        for workspace_id, (_rows, top, digest) in sorted(held.items()):
            # A workspace without a chain head has no chain to keep whole (it cannot have rows).
            if workspace_id in cutoffs:
                strays = _release(partition, workspace_id, top, digest, cutoffs[workspace_id])
                if strays is None:
                    return deleted
                deleted[workspace_id] += strays
        try:
            partitions.drop_partition(partition)
        except DatabaseError:
            # The anchors moved already: the next run finds nothing left to release, and drops.
            logger.exception("retention: could not drop %s yet", partition.name)
            return deleted
        for workspace_id, (rows, _top, _digest) in held.items():
            deleted[workspace_id] += rows
    return deleted


def purge_expired(*, now=None, batch_size: int | None = None) -> dict[int, int]:
    """Apply every workspace's retention; returns {workspace id: entries deleted}."""
    now = now or timezone.now()
    days = dict(LogPolicy.objects.values_list("workspace_id", "retention_days"))
    workspaces = list(ChainHead.objects.order_by("pk").values_list("workspace_id", flat=True))
    cutoffs = {w: now - timedelta(days=days.get(w, DEFAULT_RETENTION_DAYS)) for w in workspaces}
    deleted: Counter = Counter()
    if partitions.is_partitioned():
        cutoffs = {w: partitions.day_start(partitions.day_of(c)) for w, c in cutoffs.items()}
        deleted.update(drop_expired_partitions(cutoffs))
    for workspace_id in workspaces:
        deleted[workspace_id] += purge_workspace(
            workspace_id, cutoff=cutoffs[workspace_id], batch_size=batch_size
        )
    return {w: count for w, count in deleted.items() if count}
