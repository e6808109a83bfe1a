"""Background work of the audit app: log retention."""

from celery import shared_task

from audit.retention import purge_expired


@shared_task(name="audit.purge_expired_logs")
def purge_expired_logs() -> int:
    """Delete every workspace's expired log entries; returns how many went."""
    return sum(purge_expired().values())
