"""The one scoping helper every workspace-owned queryset goes through.

A workspace-owned model uses `WorkspaceManager` as its default manager; callers write
`Model.objects.for_workspace(ws)` and lookups by id go through `access_*` selectors that put the
workspace in the same query, so a row of another workspace is indistinguishable from a missing one.
"""

from django.db import models
from django.http import Http404


class WorkspaceQuerySet(models.QuerySet):
    def for_workspace(self, workspace):
        if workspace is None:
            raise ValueError("a workspace is required to scope this query")
        workspace_id = workspace if isinstance(workspace, int) else workspace.pk
        return self.filter(workspace_id=workspace_id)


WorkspaceManager = models.Manager.from_queryset(WorkspaceQuerySet)


def get_scoped_or_404(queryset: WorkspaceQuerySet, workspace, **lookup):
    """Fetch one row of `workspace`; another workspace's row is a plain 404."""
    try:
        return queryset.for_workspace(workspace).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc
