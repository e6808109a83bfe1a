"""Reads of alerts: the alerts a member may see, and a workspace's alert webhook with the
deliveries it owes and the latest ones."""

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from audit.models import Alert, AlertDelivery, AlertWebhook
from gateways.selectors import gateways_visible_to
from teams.capabilities import ALERTS_VIEW_ALL


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


def alerts_visible_to(membership):
    found = Alert.objects.for_workspace(membership.workspace_id)
    if not membership.has(ALERTS_VIEW_ALL):
        found = found.filter(gateway_id__in=gateways_visible_to(membership).values("id"))
    return found.select_related("acknowledged_by")
