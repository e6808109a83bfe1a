"""The Celery app and the beat schedule, in one place."""

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "audit.purge_expired_logs": {
        "task": "audit.purge_expired_logs",
        "schedule": crontab(hour=3, minute=17),
    },
    # PostgreSQL only (a no-op elsewhere): the log table's day partitions, made ahead.
    "gateways.purge_closed_approvals": {
        "task": "gateways.purge_closed_approvals",
        "schedule": crontab(hour=3, minute=29),
    },
    "audit.ensure_log_partitions": {
        "task": "audit.ensure_log_partitions",
        "schedule": crontab(minute=7),
    },
    "identities.refresh_upstream_connections": {
        "task": "identities.refresh_upstream_connections",
        "schedule": settings.UPSTREAM_OAUTH_REFRESH_EVERY_SECONDS,
    },
    "audit.deliver_sinks": {
        "task": "audit.deliver_sinks",
        "schedule": settings.SIEM_DELIVERY_SECONDS,
    },
    # Deliveries are posted by their own task as soon as an alert opens; this pass catches a
    # retry the broker lost.
    "audit.deliver_alerts": {
        "task": "audit.deliver_alerts",
        "schedule": 30.0,
    },
}

# Embedded (tasks run inline, no beat), `manage.py serve` runs the same checks on a thread.
if settings.HEALTH_CHECK_SECONDS > 0:
    app.conf.beat_schedule["servers.refresh_catalogs"] = {
        "task": "servers.refresh_catalogs",
        "schedule": settings.HEALTH_CHECK_SECONDS,
    }
