"""Reads of SIEM sinks: a workspace's sinks, with how far behind the log each one is."""

from django.db.models import OuterRef, Subquery

from audit.models import ChainHead, LogSink


def sinks_of(workspace):
    head = ChainHead.objects.filter(workspace_id=OuterRef("workspace_id")).values("seq")[:1]
    return (
        LogSink.objects.for_workspace(workspace)
        .select_related("workspace")
        .annotate(head_seq=Subquery(head))
        .order_by("name")
    )
