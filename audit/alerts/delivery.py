"""Posting new alerts to the workspace's alert webhook: never lost, never in anyone's way.

* **Never lost.** `queue` writes an `AlertDelivery` row in the transaction that opens the alert
  (the log writer's batch, or the health check's), so no alert exists without its delivery.
* **Never in the way.** The post happens in the Celery task `audit.deliver_alert`, enqueued by
  name once that transaction commits: a receiver that is slow or down costs a worker's time, not
  the log writer's. Embedded set-ups run tasks eagerly, which would post on the writer's thread,
  so there nothing is enqueued and `deliver_logs` posts what is due, as it delivers the sinks.
* **Retries with backoff.** A failed post keeps the delivery pending until `next_attempt_at`,
  `ALERT_WEBHOOK_RETRY_BASE_SECONDS` later, doubled per failure up to
  `ALERT_WEBHOOK_RETRY_MAX_SECONDS`; the task retries itself then, and the beat task
  `audit.deliver_alerts` picks up any delivery whose task was lost (a broker restart). After
  `ALERT_WEBHOOK_MAX_ATTEMPTS` failures it gives up.
* **One worker per delivery**: a lease taken by a conditional UPDATE. Delivery is at-least-once
  (a crash between the post and the update posts again); receivers dedupe on `delivery`.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import Alert, AlertDelivery, AlertWebhook
from audit.sinks.base import SinkFailure
from audit.sinks.webhook import signed_post
from core import crypto, outbound_http

TASK = "audit.deliver_alert"
SWEEP_BATCH = 100


@dataclass(frozen=True)
class Attempt:
    """What one attempt at one delivery did; `retry_in` is set while it stays pending."""

    delivery_id: int
    state: str
    error: str = ""
    retry_in: float | None = None


def queue(alert: Alert) -> AlertDelivery | None:
    """Owe the new `alert` to the workspace's webhook, if it has one switched on."""
    enabled = AlertWebhook.objects.filter(workspace_id=alert.workspace_id, enabled=True)
    if not enabled.exists():
        return None
    delivery = AlertDelivery.objects.create(
        workspace_id=alert.workspace_id, alert=alert, next_attempt_at=timezone.now()
    )
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        delivery_id = delivery.pk
        transaction.on_commit(lambda: current_app.send_task(TASK, args=[delivery_id]))
    return delivery


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def alert_body(alert: Alert, *, workspace_slug: str, delivery_id: int | None) -> dict:
    return {
        "workspace": workspace_slug,
        "event": "alert",
        "delivery": delivery_id,
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "title": alert.title,
            "subject": alert.subject,
            "gateway": alert.gateway_slug or None,
            "correlation_id": str(alert.correlation_id) if alert.correlation_id else None,
            "count": alert.count,
            "first_at": _iso(alert.first_at),
            "last_at": _iso(alert.last_at),
        },
    }


def post(webhook: AlertWebhook, payload: dict) -> None:
    """Sign and post `payload` to the webhook; raises SinkFailure with a reason safe to show."""
    try:
        key = crypto.decrypt(webhook.secret).get("signing_key") if webhook.secret else None
    except crypto.UndecryptableSecret as exc:
        raise SinkFailure("the signing key cannot be decrypted (were the keys changed?)") from exc
    if not key:
        raise SinkFailure("the webhook has no signing key")
    signed_post(
        webhook.endpoint,
        payload,
        key=key,
        networks=outbound_http.parse_networks(webhook.allow_private),
        timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
    )


def send_test(webhook: AlertWebhook) -> str:
    """Post a test alert now; returns the failure reason, or "" when the receiver took it."""
    now = datetime.now(UTC)
    probe = Alert(
        workspace_id=webhook.workspace_id,
        kind=Alert.Kind.RULE,
        subject="test",
        title="Test alert from Gatehouse",
        first_at=now,
        last_at=now,
    )
    payload = alert_body(probe, workspace_slug=webhook.workspace.slug, delivery_id=None)
    payload["event"] = "test"
    try:
        post(webhook, payload)
    except SinkFailure as exc:
        _record(webhook.workspace_id, error=exc.reason)
        return exc.reason
    _record(webhook.workspace_id, error="")
    return ""


def _record(workspace_id: int, *, error: str) -> None:
    now = timezone.now()
    fields = {"last_attempt_at": now, "last_error": error[:500]}
    if error:
        fields["last_status"] = AlertWebhook.Status.FAILED
    else:
        fields.update(last_status=AlertWebhook.Status.DELIVERED, last_success_at=now)
    AlertWebhook.objects.filter(workspace_id=workspace_id).update(**fields)


def _lease() -> timedelta:
    return timedelta(seconds=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS * 2 + 30)


def _due(queryset, now):
    return queryset.filter(state=AlertDelivery.State.PENDING, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


def claim(delivery_id: int, *, now=None) -> str | None:
    """Take the delivery's lease if it is due; returns the token, or None."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    # The conditions are evaluated by the UPDATE itself: only one claimer wins.
    taken = _due(AlertDelivery.objects.filter(pk=delivery_id), now).update(
        lease_token=token, lease_until=now + _lease()
    )
    return token if taken else None


def _backoff(attempts: int) -> float:
    return min(
        settings.ALERT_WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempts - 1, 30),
        settings.ALERT_WEBHOOK_RETRY_MAX_SECONDS,
    )


def attempt(delivery_id: int) -> Attempt | None:
    """Post one due delivery; None when it is not due or another worker holds it."""
    token = claim(delivery_id)
    if token is None:
        return None
    delivery = AlertDelivery.objects.select_related("alert", "workspace").get(pk=delivery_id)
    mine = AlertDelivery.objects.filter(pk=delivery_id, lease_token=token)
    webhook = AlertWebhook.objects.filter(workspace_id=delivery.workspace_id, enabled=True).first()
    if webhook is None:
        reason = "the alert webhook was removed or switched off"
        mine.update(state=AlertDelivery.State.GAVE_UP, last_error=reason, lease_token="")
        return Attempt(delivery_id, AlertDelivery.State.GAVE_UP, reason)
    payload = alert_body(
        delivery.alert, workspace_slug=delivery.workspace.slug, delivery_id=delivery_id
    )
    attempts = delivery.attempts + 1
    try:
        post(webhook, payload)
    except SinkFailure as exc:
        _record(delivery.workspace_id, error=exc.reason)
        if attempts >= settings.ALERT_WEBHOOK_MAX_ATTEMPTS:
            mine.update(
                state=AlertDelivery.State.GAVE_UP,
                attempts=attempts,
                last_error=exc.reason,
                lease_token="",
                lease_until=None,
            )
            return Attempt(delivery_id, AlertDelivery.State.GAVE_UP, exc.reason)
        delay = _backoff(attempts)
        mine.update(
            attempts=attempts,
            last_error=exc.reason,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            lease_token="",
            lease_until=None,
        )
        return Attempt(delivery_id, AlertDelivery.State.PENDING, exc.reason, retry_in=delay)
    _record(delivery.workspace_id, error="")
    mine.update(
        state=AlertDelivery.State.DELIVERED,
        attempts=attempts,
        last_error="",
        delivered_at=timezone.now(),
        lease_token="",
        lease_until=None,
    )
    return Attempt(delivery_id, AlertDelivery.State.DELIVERED)


def deliver_due(*, workspace=None) -> list[Attempt]:
    """One pass over the deliveries that are due, oldest first (bounded per pass)."""
    queryset = AlertDelivery.objects.all()
    if workspace is not None:
        queryset = AlertDelivery.objects.for_workspace(workspace)
    due = _due(queryset, timezone.now()).order_by("next_attempt_at", "pk")
    done = []
    for delivery_id in list(due.values_list("pk", flat=True)[:SWEEP_BATCH]):
        result = attempt(delivery_id)
        if result is not None:
            done.append(result)
    return done
