"""Background work of the audit app: log retention and SIEM delivery."""

from celery import shared_task

from audit.retention import purge_expired
from audit.sinks.delivery import deliver_due


@shared_task(name="audit.purge_expired_logs")
def purge_expired_logs() -> int:
    """Delete every workspace's expired log entries; returns how many went."""
    return sum(purge_expired().values())


@shared_task(name="audit.deliver_sinks")
def deliver_sinks() -> int:
    """Send each due SIEM sink what it has not accepted yet (bounded per run); returns the count.

    Sinks are leased one worker at a time, so overlapping runs never deliver the same sink twice.
    """
    return sum(result.delivered for result in deliver_due())
