"""Audit records. `ConfigChange` is the admin audit log of configuration changes."""

from django.conf import settings
from django.db import models

from teams.models import Workspace
from teams.scoping import WorkspaceManager


class ConfigChange(models.Model):
    """One configuration change made by a person, the API, `apply` or a task."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target = models.CharField(max_length=200)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.target_type} {self.target}"
