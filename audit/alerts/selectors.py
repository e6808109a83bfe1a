"""Reads of alerts: a workspace's alert webhook with the deliveries it owes, and the latest ones."""

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from audit.models import AlertDelivery, AlertWebhook


def alert_webhook_of(workspace) -> AlertWebhook | None:
    """The workspace's alert webhook with `pending`, the deliveries still to post, or None."""
    pending = (
        AlertDelivery.objects.filter(
            workspace_id=OuterRef("workspace_id"), state=AlertDelivery.State.PENDING
        )
        .values("workspace_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        AlertWebhook.objects.for_workspace(workspace)
        .select_related("workspace")
        .annotate(pending=Coalesce(Subquery(pending), Value(0), output_field=IntegerField()))
        .first()
    )


def recent_alert_deliveries(workspace, *, limit: int = 10) -> list[AlertDelivery]:
    return list(
        AlertDelivery.objects.for_workspace(workspace)
        .select_related("alert")
        .order_by("-created_at", "-id")[:limit]
    )
