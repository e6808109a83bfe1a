"""Audit records: `ConfigChange`, the admin audit log of configuration changes, and the
per-hop log of gateway traffic (`LogEntry`, its hash chain head and its per-workspace policy)."""

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


class Hop(models.TextChoices):
    """Where in a call's life an entry was written; one client call writes four or more."""

    CLIENT_REQUEST = "client.request", "Client request"
    UPSTREAM_REQUEST = "upstream.request", "Upstream request"
    UPSTREAM_RESPONSE = "upstream.response", "Upstream response"
    CLIENT_RESPONSE = "client.response", "Client response"
    POLICY_ACTION = "policy.action", "A rule acted"
    POLICY_TOOL_FILTERED = "policy.tool_filtered", "Curation refused or hid a tool"
    AUTH_DENIED = "auth.denied", "Authentication or provisioning denied"
    SESSION_START = "session.start", "Session started"
    SESSION_END = "session.end", "Session ended"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    BLOCKED = "blocked", "Blocked"


class PayloadState(models.TextChoices):
    FULL = "full", "Stored in full"
    TRUNCATED = "truncated", "Truncated"
    OMITTED = "omitted", "Not stored (metadata only, or no payload)"


class LogEntry(models.Model):
    """One hop of one call through a gateway, a link of its workspace's hash chain.

    Gateway, assignment, server, person and token are plain ids (with the names people search
    by copied next to them) rather than foreign keys: deleting a gateway or a person must leave
    its history intact, and must not rewrite millions of log rows either.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField(help_text="Position in the workspace's hash chain, from 1.")
    at = models.DateTimeField(help_text="When the hop happened, to the microsecond.")
    hop = models.CharField(max_length=24, choices=Hop.choices)
    correlation_id = models.UUIDField(help_text="Shared by every entry of one client call.")
    gateway_id = models.BigIntegerField(null=True, blank=True)
    gateway_slug = models.CharField(max_length=50, blank=True)
    assignment_id = models.BigIntegerField(null=True, blank=True)
    server_id = models.BigIntegerField(null=True, blank=True)
    server_name = models.CharField(max_length=120, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    user_email = models.CharField(max_length=254, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    session = models.CharField(
        max_length=64, blank=True, help_text="A hash of the MCP session id, never the id."
    )
    client_name = models.CharField(max_length=100, blank=True)
    client_version = models.CharField(max_length=50, blank=True)
    rpc_method = models.CharField(max_length=100, blank=True)
    rpc_id = models.CharField(max_length=100, blank=True)
    tool = models.CharField(max_length=200, blank=True, help_text="Namespaced, as clients see it.")
    upstream_tool = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OK)
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    request_bytes = models.BigIntegerField(null=True, blank=True)
    response_bytes = models.BigIntegerField(null=True, blank=True)
    tokens_estimate = models.IntegerField(null=True, blank=True)
    identity_scheme = models.CharField(max_length=20, blank=True)
    payload_state = models.CharField(
        max_length=10, choices=PayloadState.choices, default=PayloadState.OMITTED
    )
    payload = models.JSONField(null=True, blank=True, help_text="As redacted by the rules.")
    detail = models.JSONField(default=dict, blank=True)
    prev_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "log entries"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "seq"], name="logentry_unique_seq"),
        ]
        indexes = [
            models.Index(fields=["workspace", "at"], name="logentry_ws_at"),
            models.Index(fields=["workspace", "correlation_id"], name="logentry_ws_call"),
            models.Index(fields=["workspace", "gateway_slug", "at"], name="logentry_ws_gw_at"),
            models.Index(fields=["workspace", "user_email", "at"], name="logentry_ws_user_at"),
            models.Index(fields=["workspace", "tool"], name="logentry_ws_tool"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.hop} {self.correlation_id}"


class LogPolicy(models.Model):
    """How much of each payload a workspace keeps, and for how long it keeps its logs.

    Created with the defaults the first time something asks for it; a workspace without one
    behaves as if it had the defaults.
    """

    class PayloadMode(models.TextChoices):
        FULL = "full", "Store payloads in full"
        TRUNCATED = "truncated", "Store the first N KB of each payload"
        METADATA = "metadata", "Store metadata only, no payloads"

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="log_policy"
    )
    payload_mode = models.CharField(
        max_length=10, choices=PayloadMode.choices, default=PayloadMode.FULL
    )
    payload_max_kb = models.PositiveIntegerField(
        default=16, help_text="The cap when payloads are truncated, in KB of JSON text."
    )
    retention_days = models.PositiveIntegerField(default=90)

    objects = WorkspaceManager()

    class Meta:
        verbose_name_plural = "log policies"

    def __str__(self):
        return f"log policy of {self.workspace_id}"


class ChainHead(models.Model):
    """The newest link of a workspace's hash chain, and the anchor retention left behind.

    Writers lock this row (`SELECT ... FOR UPDATE`) to take the next `seq`, so several worker
    processes append to one chain without forking it. `anchor_*` name the last entry retention
    deleted: verification starts from there.
    """

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    seq = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64)
    anchor_seq = models.BigIntegerField(default=0)
    anchor_digest = models.CharField(max_length=64)

    objects = WorkspaceManager()

    def __str__(self):
        return f"chain of {self.workspace_id} at {self.seq}"
