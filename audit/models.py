"""Audit records: the per-hop log of gateway traffic (`LogEntry`, its hash chain head and its
per-workspace policy), alerts and where they go (`Alert`, `AlertWebhook`, `AlertDelivery`), and
SIEM sinks."""

from django.conf import settings
from django.db import models

from teams.models import Workspace
from teams.scoping import WorkspaceManager


class Hop(models.TextChoices):
    """Where in a call's life an entry was written; one client call writes four or more."""

    CLIENT_REQUEST = "client.request", "Client request"
    UPSTREAM_REQUEST = "upstream.request", "Upstream request"
    UPSTREAM_RESPONSE = "upstream.response", "Upstream response"
    CLIENT_RESPONSE = "client.response", "Client response"
    POLICY_ACTION = "policy.action", "A rule acted"
    POLICY_TOOL_FILTERED = "policy.tool_filtered", "Curation refused or hid a tool"
    POLICY_LIMIT_EXCEEDED = "policy.limit_exceeded", "A rate limit refused a request"
    POLICY_APPROVAL = "policy.approval", "A call needing approval was asked, approved or refused"
    AUTH_DENIED = "auth.denied", "Authentication or provisioning denied"
    SESSION_START = "session.start", "Session started"
    SESSION_END = "session.end", "Session ended"
    TASK_STATUS = "task.status", "A task reached a status"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    BLOCKED = "blocked", "Blocked"


class PayloadState(models.TextChoices):
    FULL = "full", "Stored in full"
    TRUNCATED = "truncated", "Truncated"
    OMITTED = "omitted", "Not stored (metadata only, or no payload)"
    SHARED = "shared", "Stored once, with the call's upstream.response"
    CAPPED = "capped", "Over the storage cap: digest, size, first and last bytes"


class LogEntry(models.Model):
    """One hop of one call through a gateway, a link of its workspace's hash chain.

    Gateway, assignment, server, person and token are plain ids (with the names people search
    by copied next to them) rather than foreign keys: deleting a gateway or a person must leave
    its history intact, and must not rewrite millions of log rows either.
    """

    # No index of its own: every index below starts with the workspace, and each index is one
    # more B-tree every insert of the busiest table updates, so there is one only where a query
    # of the viewer, the timeline, the export or the chain needs it (docs/audit.md).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
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


class Alert(models.Model):
    """Something a person should look at: a rule raised it, callers were refused, a server fell.

    Repeats of the same open alert (same workspace, kind, gateway and subject) within
    `ALERT_FOLD_SECONDS` are folded into it (`count`, `last_at`) instead of flooding the list.
    """

    class Kind(models.TextChoices):
        RULE = "rule", "A rule raised an alert"
        AUTH = "auth", "Callers were refused"
        SERVER_DOWN = "server_down", "A server went down"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Plain ids, like the log entries: an alert outlives the gateway or server it names.
    gateway_id = models.BigIntegerField(null=True, blank=True)
    gateway_slug = models.CharField(max_length=50, blank=True)
    subject = models.CharField(max_length=200, help_text="The rule, reason or server it is about.")
    title = models.CharField(max_length=300)
    correlation_id = models.UUIDField(null=True, blank=True, help_text="The latest call.")
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-last_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "kind", "subject", "last_at"], name="alert_fold"),
        ]

    def __str__(self):
        return f"{self.workspace_id}/{self.kind}: {self.title}"


class LogSink(models.Model):
    """A SIEM a workspace's log entries are streamed to, and how far delivery has got.

    Delivery (`audit.sinks.delivery`) reads the entries after `cursor_seq` in chain order and
    moves the cursor only once the sink has accepted them: at-least-once, in order, and resumed
    from the cursor after an outage. `failures`, `next_attempt_at` and `failing_since` carry the
    backoff between attempts; `lease_*` mark the one worker delivering it right now.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "HTTPS webhook (signed JSON batches)"
        OTLP_HTTP = "otlp_http", "OpenTelemetry logs over OTLP/HTTP (JSON)"
        SYSLOG = "syslog", "Syslog over TCP or TLS (RFC 5424)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    endpoint = models.CharField(
        max_length=500, help_text="An https:// URL (webhook, OTLP) or host:port (syslog)."
    )
    allow_private = models.JSONField(
        default=list, blank=True, help_text="Networks a private or loopback endpoint may be in."
    )
    tls = models.BooleanField(default=True, help_text="Syslog over TLS (RFC 5425), not plain TCP.")
    tls_verify = models.BooleanField(default=True)
    ca_pem = models.TextField(blank=True, help_text="CA certificates to trust for syslog, PEM.")
    include_payloads = models.BooleanField(default=False)
    secret = models.TextField(
        blank=True, help_text="Encrypted: the webhook signing key or the OTLP headers."
    )
    secret_hint = models.CharField(max_length=120, blank=True)
    batch_size = models.PositiveIntegerField(default=200)
    cursor_seq = models.BigIntegerField(default=0, help_text="Seq of the last entry accepted.")
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="logsink_unique_name"),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class AlertWebhook(models.Model):
    """Where a workspace's new alerts are posted (signed like the SIEM webhook), and how the
    latest delivery went.

    The signing key is encrypted with the credentials keys (`core.crypto`); the console
    and the API show only its hint.
    """

    class Status(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    endpoint = models.CharField(max_length=500, help_text="An https:// URL.")
    allow_private = models.JSONField(
        default=list, blank=True, help_text="Networks a private or loopback endpoint may be in."
    )
    secret = models.TextField(blank=True, help_text="Encrypted: the signing key.")
    secret_hint = models.CharField(max_length=120, blank=True)
    last_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    def __str__(self):
        return f"alert webhook {self.endpoint}"


class AlertDelivery(models.Model):
    """A new alert owed to the workspace's alert webhook: written in the alert's transaction,
    so it is never lost, and posted later by a task, so a slow receiver never holds anyone up.

    A failed attempt sets `next_attempt_at` further off each time (`audit.alerts.delivery`);
    after `ALERT_WEBHOOK_MAX_ATTEMPTS` the delivery gives up. `lease_*` mark the one worker
    posting it right now.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        GAVE_UP = "gave_up", "Gave up"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="alertdelivery_due"),
        ]

    def __str__(self):
        return f"alert {self.alert_id} to the webhook: {self.state}"
