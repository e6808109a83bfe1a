"""Retention: deleting each workspace's log entries once they are older than its policy allows.

Retention deletes the oldest stretch of a workspace's chain, never a hole in it: it walks the
chain from its start in `seq` order, `AUDIT_PURGE_BATCH_SIZE` entries at a time, and deletes
each run of entries older than the cutoff by `seq` range (the unique `(workspace, seq)` index)
in its own short transaction, stopping at the first entry that is still within retention. (An
entry written a moment before a newer one by another worker may so outlive its cutoff by a day;
a hole would break verification.) Each transaction moves the chain head's anchor to the last
deleted entry, so verification starts from there: it checks that the oldest remaining entry's
`prev_digest` is the anchor's digest.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import ChainHead, LogEntry, LogPolicy

DEFAULT_RETENTION_DAYS = LogPolicy._meta.get_field("retention_days").default


def purge_workspace(workspace_id: int, *, cutoff, batch_size: int | None = None) -> int:
    """Delete the workspace's entries older than `cutoff` from the start of its chain."""
    batch_size = batch_size or settings.AUDIT_PURGE_BATCH_SIZE
    deleted = 0
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


def purge_expired(*, now=None, batch_size: int | None = None) -> dict[int, int]:
    """Apply every workspace's retention; returns {workspace id: entries deleted}."""
    now = now or timezone.now()
    days = dict(LogPolicy.objects.values_list("workspace_id", "retention_days"))
    deleted = {}
    for workspace_id in ChainHead.objects.order_by("pk").values_list("workspace_id", flat=True):
        cutoff = now - timedelta(days=days.get(workspace_id, DEFAULT_RETENTION_DAYS))
        count = purge_workspace(workspace_id, cutoff=cutoff, batch_size=batch_size)
        if count:
            deleted[workspace_id] = count
    return deleted
