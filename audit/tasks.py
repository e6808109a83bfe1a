"""Background work of the audit app: log retention and partitions, SIEM delivery and the alert
webhook."""

from celery import shared_task

from audit.alerts import delivery
from audit.log.partitions import ensure_partitions
from audit.log.retention import purge_expired
from audit.models import AlertDelivery
from audit.sinks.delivery import deliver_due


@shared_task(name="audit.purge_expired_logs")
def purge_expired_logs() -> int:
    """Delete every workspace's expired log entries; returns how many went."""
    return sum(purge_expired().values())


@shared_task(name="audit.ensure_log_partitions")
def ensure_log_partitions() -> int:
    """Make the log table's missing day partitions, today's and AUDIT_PARTITION_DAYS_AHEAD
    more (PostgreSQL only); returns how many were made."""
    return len(ensure_partitions())


@shared_task(name="audit.deliver_sinks")
def deliver_sinks() -> int:
    """Send each due SIEM sink what it has not accepted yet (bounded per run); returns the count.

    Sinks are leased one worker at a time, so overlapping runs never deliver the same sink twice.
    """
    return sum(result.delivered for result in deliver_due())


# No retry limit of Celery's own: the delivery row counts attempts (ALERT_WEBHOOK_MAX_ATTEMPTS).
@shared_task(name=delivery.TASK, bind=True, max_retries=None)
def deliver_alert(self, delivery_id: int) -> str:
    """Post one alert to the workspace's webhook; after a failure, retry once it is due again.

    The delivery row carries the attempts and the backoff, so a retry that Celery loses is picked
    up by `audit.deliver_alerts` instead.
    """
    result = delivery.attempt(delivery_id)
    if result is None:
        return "not due"
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.state


@shared_task(name="audit.deliver_alerts")
def deliver_alerts() -> int:
    """Post every alert delivery that is due (new or waiting out a failure); returns how many
    were accepted."""
    done = delivery.deliver_due()
    return sum(1 for result in done if result.state == AlertDelivery.State.DELIVERED)
