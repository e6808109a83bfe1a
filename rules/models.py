"""Rule definitions: one detector and one action, scoped to a workspace, gateway or assignment.

Rules refer to gateways and assignments by string foreign keys so that `rules` never imports the
`gateways` app (the dependency points the other way: the gateway snapshot compiles rules).
"""

from django.db import models

from teams.models import Workspace
from teams.scoping import WorkspaceManager


class Rule(models.Model):
    """A governance rule, compiled into every gateway snapshot it applies to."""

    class Mode(models.TextChoices):
        ENFORCE = "enforce", "Enforce"
        MONITOR = "monitor", "Monitor (log what enforce would have done)"

    class Direction(models.TextChoices):
        REQUEST = "request", "Requests"
        RESPONSE = "response", "Responses"
        BOTH = "both", "Requests and responses"

    class Action(models.TextChoices):
        BLOCK = "block", "Block the call"
        REDACT = "redact", "Redact each match"
        REPLACE = "replace", "Replace each match by a text"
        MASK = "mask", "Mask each match, keeping its last characters"
        HASH = "hash", "Replace each match by a keyed, stable digest"
        FLAG = "flag", "Log only"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="rules")
    # Both set for an assignment-scoped rule, so one filter on the gateway finds every rule of it.
    gateway = models.ForeignKey(
        "gateways.Gateway", null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    assignment = models.ForeignKey(
        "gateways.Assignment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rules",
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    order = models.IntegerField(default=0, help_text="Lower runs first, within the rule's scope.")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.ENFORCE)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.BOTH)
    conditions = models.JSONField(
        default=dict, blank=True, help_text="{tools, servers, teams, people, methods}: lists"
    )
    detector = models.CharField(max_length=40)
    detector_config = models.JSONField(default=dict, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.FLAG)
    action_config = models.JSONField(default=dict, blank=True)
    alert = models.BooleanField(default=False, help_text="Also raise an alert when it acts.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(assignment__isnull=True) | models.Q(gateway__isnull=False),
                name="rule_assignment_has_gateway",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "gateway"], name="rule_ws_gateway")]

    def __str__(self):
        return f"{self.workspace_id}/{self.name}"

    @property
    def scope(self) -> str:
        if self.assignment_id is not None:
            return "assignment"
        if self.gateway_id is not None:
            return "gateway"
        return "workspace"
