"""Reads of the audit app: the admin audit log of a workspace, newest first."""

from audit.models import ConfigChange


def changes_of(workspace):
    return (
        ConfigChange.objects.for_workspace(workspace)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
