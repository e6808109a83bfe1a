"""Gateways, their provisioning to teams, and assignments of servers to them."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from servers.models import Server
from teams.models import Team, Workspace, slug_validator
from teams.scoping import WorkspaceManager

namespace_validator = RegexValidator(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,30}[a-zA-Z0-9])?)?$",
    "Use up to 32 letters, digits, '-' and '_', starting and ending with a letter or digit.",
)


class Gateway(models.Model):
    """One governed MCP URL: /mcp/<workspace>/<slug>."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="gateways")
    slug = models.SlugField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="gateways")
    # Rate limits, as gateways/rate_limits.py cleans them: [{scope, rate[, tool]}].
    limits = models.JSONField(default=list, blank=True)
    config_version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="gateway_unique_slug"),
        ]

    def __str__(self):
        return f"{self.workspace.slug}/{self.slug}"


class Assignment(models.Model):
    """A server on a gateway, with its namespace, identity scheme and curation policy."""

    class PrefixMode(models.TextChoices):
        ALWAYS = "always", "Always prefix"
        NEVER = "never", "Never prefix"
        CONDITIONAL = "conditional", "Prefix only on collision"

    class IdentityScheme(models.TextChoices):
        NONE = "none", "None"
        SERVICE_ACCOUNT = "service_account", "Shared service account"
        USER_OAUTH = "user_oauth", "Each person's own OAuth identity"
        MANUAL = "manual", "Manual token or headers"

    class ToolMode(models.TextChoices):
        ALL = "all", "All tools"
        SELECTED = "selected", "Selected tools"
        READ_ONLY = "read_only", "Read-only tools"
        NONE = "none", "No tools"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="assignments")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="assignments")
    namespace = models.CharField(max_length=32, blank=True, validators=[namespace_validator])
    prefix_mode = models.CharField(
        max_length=12, choices=PrefixMode.choices, default=PrefixMode.ALWAYS
    )
    identity_scheme = models.CharField(
        max_length=20, choices=IdentityScheme.choices, default=IdentityScheme.NONE
    )
    tool_mode = models.CharField(max_length=12, choices=ToolMode.choices, default=ToolMode.ALL)
    tool_allow = models.JSONField(default=list, blank=True)
    tool_overrides = models.JSONField(
        default=dict, blank=True, help_text="{upstream_name: {name, description}}"
    )
    tool_pinning = models.BooleanField(
        default=True,
        help_text="Withhold a curated tool whose upstream definition changed until it is approved.",
    )
    tool_pins = models.JSONField(
        default=dict, blank=True, help_text="{upstream_name: {digest, definition}}"
    )
    tool_admissions = models.JSONField(
        default=dict,
        blank=True,
        help_text="Flagged tools an admin approved: {upstream_name: {digest, reasons, "
        "approved_by, approved_at}}",
    )
    prompts_enabled = models.BooleanField(default=True)
    resources_enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(null=True, blank=True)
    max_call_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Longest one call may run, progress or not (seconds); empty: "
        "MCP_MAX_CALL_SECONDS.",
    )
    max_result_bytes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Largest reply taken for this assignment (bytes); empty: the server's bound.",
    )
    approval_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="Upstream tool names whose every call someone must approve first.",
    )
    approval_team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who approves; empty: the caller confirms their own call.",
    )
    approval_timeout_seconds = models.PositiveIntegerField(
        default=120, help_text="How long a call waits for a decision before it is refused."
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["gateway", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "namespace"],
                condition=~models.Q(namespace=""),
                name="assignment_unique_namespace",
            ),
        ]

    def __str__(self):
        return f"{self.gateway} <- {self.server.name} as {self.namespace or '(none)'}"

    def exposes(self, name: str, annotations: dict | None) -> bool:
        """Whether the tool policy offers this tool (AssignmentSpec.tool_allowed, stored side)."""
        if self.tool_mode == self.ToolMode.ALL:
            return True
        if self.tool_mode == self.ToolMode.SELECTED:
            return name in (self.tool_allow or ())
        if self.tool_mode == self.ToolMode.READ_ONLY:
            return bool((annotations or {}).get("readOnlyHint"))
        return False


class PendingApproval(models.Model):
    """One call of a tool that needs approval, waiting for (or given) a decision in the
    console. Stored so that a decision made on any worker reaches the call waiting on another."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"
        TIMED_OUT = "timed_out", "Timed out"
        CANCELLED = "cancelled", "Cancelled by the caller"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=200, help_text="The tool's name as the caller sent it.")
    arguments = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    approver_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    correlation_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "status"], name="approval_ws_status")]

    def __str__(self):
        return f"{self.tool} ({self.status})"
