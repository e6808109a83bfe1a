"""Alerts: raised by rules that ask for one, by refused callers, and by servers going down.

Rule and authentication alerts are derived from the log entries as the writer stores them (on
the writer thread, in the batch's transaction, so an alert never exists without its entries);
server alerts come from the health checks, which clear them when the server is back. Repeats
of an open alert within `ALERT_FOLD_SECONDS` fold into it. A new alert is mailed, after
commit, to the members who hold `alerts.view_all` when `ALERT_EMAILS` is on, and owed to the
workspace's alert webhook, which a task posts it to (`audit.alerts.delivery`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.alerts import delivery
from audit.models import Alert, Hop
from teams.capabilities import ALERTS_VIEW_ALL
from teams.models import Membership

logger = logging.getLogger(__name__)


def raise_alert(
    *,
    workspace_id: int,
    kind: str,
    subject: str,
    title: str,
    gateway_id: int | None = None,
    gateway_slug: str = "",
    correlation_id=None,
    at: datetime | None = None,
    count: int = 1,
) -> Alert:
    """Open an alert, or fold this occurrence into the same one still open and recent."""
    at = at or timezone.now()
    window = timedelta(seconds=settings.ALERT_FOLD_SECONDS)
    subject = subject[:200]
    open_alert = (
        Alert.objects.for_workspace(workspace_id)
        .filter(
            kind=kind,
            subject=subject,
            gateway_id=gateway_id,
            acknowledged_at__isnull=True,
            last_at__gte=at - window,
        )
        .select_for_update()
        .first()
    )
    if open_alert is not None:
        open_alert.count += count
        open_alert.last_at = max(open_alert.last_at, at)
        open_alert.correlation_id = correlation_id or open_alert.correlation_id
        open_alert.save(update_fields=["count", "last_at", "correlation_id"])
        return open_alert
    alert = Alert.objects.create(
        workspace_id=workspace_id,
        kind=kind,
        subject=subject,
        title=title[:300],
        gateway_id=gateway_id,
        gateway_slug=gateway_slug,
        correlation_id=correlation_id,
        count=count,
        first_at=at,
        last_at=at,
    )
    delivery.queue(alert)
    transaction.on_commit(lambda: notify(alert))
    return alert


_ALERTING_HOPS = frozenset({Hop.POLICY_ACTION, Hop.AUTH_DENIED})


def from_log_rows(workspace_id: int, rows: list[dict]) -> int:
    """Raise the alerts a batch of stored entries calls for; returns how many occurrences.

    Occurrences of one alert within the batch are folded first, so a burst of refused callers
    costs one query per alert, not one per entry.
    """
    folded: dict[tuple, dict] = {}
    for row in rows:
        hop = row["hop"]
        if hop not in _ALERTING_HOPS:  # most rows: looked at once, and cheaply
            continue
        detail = row.get("detail") or {}
        gateway = row.get("gateway_slug") or "the workspace"
        if hop == Hop.POLICY_ACTION and detail.get("alert"):
            rule = str(detail.get("rule") or "a rule")
            verb = "would have acted" if detail.get("mode") == "monitor" else "acted"
            kinds = ", ".join(sorted(detail.get("kinds") or {})) or detail.get("detector", "")
            title = f"Rule '{rule}' {verb} on {gateway}" + (f" ({kinds})" if kinds else "")
            subject = rule
            kind = Alert.Kind.RULE
        elif hop == Hop.AUTH_DENIED:
            reason = str(detail.get("reason") or row.get("error_message") or "refused")
            title = f"Callers refused on {gateway}: {reason}"
            subject = reason
            kind = Alert.Kind.AUTH
        else:
            continue
        key = (kind, subject, row.get("gateway_id"))
        if key in folded:
            folded[key]["count"] += 1
            folded[key]["at"] = row.get("at")
            folded[key]["correlation_id"] = row.get("correlation_id")
            continue
        folded[key] = {
            "kind": kind,
            "subject": subject,
            "title": title,
            "gateway_id": row.get("gateway_id"),
            "gateway_slug": row.get("gateway_slug") or "",
            "correlation_id": row.get("correlation_id"),
            "at": row.get("at"),
            "count": 1,
        }
    for occurrence in folded.values():
        raise_alert(workspace_id=workspace_id, **occurrence)
    return sum(o["count"] for o in folded.values())


def server_went_down(*, server, detail: str) -> Alert:
    return raise_alert(
        workspace_id=server.workspace_id,
        kind=Alert.Kind.SERVER_DOWN,
        subject=server.name,
        title=f"Server '{server.name}' is down: {detail}"[:300],
    )


def server_came_back(*, server) -> int:
    """A server that answers again clears its open down alerts: acknowledged, by nobody.

    Alerts carry no resolved state of their own; an acknowledged alert leaves the open list and
    is never folded into, so the next outage opens a new one."""
    return (
        Alert.objects.for_workspace(server.workspace_id)
        .filter(kind=Alert.Kind.SERVER_DOWN, subject=server.name[:200])
        .filter(acknowledged_at__isnull=True)
        .update(acknowledged_at=timezone.now())
    )


def acknowledge(*, alert: Alert, user) -> Alert:
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def notify(alert: Alert) -> None:
    """Mail a new alert to the people who see every alert; a mail failure never loses it."""
    if not settings.ALERT_EMAILS:
        return
    members = Membership.objects.for_workspace(alert.workspace_id).select_related("role", "user")
    recipients = sorted(m.user.email for m in members if m.has(ALERTS_VIEW_ALL))
    if not recipients:
        return
    try:
        send_mail(
            subject=f"[Gatehouse] {alert.title}",
            message=(
                f"{alert.get_kind_display()} in workspace {alert.workspace_id} at "
                f"{alert.first_at.isoformat()}.\n\n{alert.title}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - mail is best effort; the alert is stored either way
        logger.exception("could not mail alert %s", alert.pk)
