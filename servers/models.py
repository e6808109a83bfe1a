"""Upstream server definitions and what was discovered about them."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from teams.capabilities import SERVERS_DEPLOY_MANAGED, SERVERS_DEPLOY_WORKSTATION, SERVERS_MANAGE
from teams.models import Workspace
from teams.scoping import WorkspaceManager

server_name_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    "Use 1-64 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit.",
)


class Server(models.Model):
    class Kind(models.TextChoices):
        REMOTE = "remote", "Remote"
        MANAGED = "managed", "Managed (stdio, run by the platform)"
        WORKSTATION = "workstation", "Workstation"

    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "HTTP+SSE (2024-11-05)"
        STDIO = "stdio", "stdio"

    class Scope(models.TextChoices):
        PERSONAL = "personal", "Personal (each caller's own connector)"
        SHARED = "shared", "Shared (one connector serves every caller)"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="servers")
    name = models.CharField(max_length=64, validators=[server_name_validator])
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REMOTE)
    transport = models.CharField(
        max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP
    )
    url = models.URLField(max_length=500, blank=True)
    command = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=list, blank=True)
    env = models.JSONField(default=dict, blank=True)
    scope = models.CharField(
        max_length=10,
        choices=Scope.choices,
        default=Scope.PERSONAL,
        help_text="Workstation servers: whose connector serves a call.",
    )
    env_keys = models.JSONField(
        default=list,
        blank=True,
        help_text="Workstation servers: the names of the variables the connector passes from the "
        "workstation's environment to the server (their values never reach the platform).",
    )
    network = models.BooleanField(
        default=True, help_text="Managed servers: whether the server's sandbox reaches the network."
    )
    max_reply_bytes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Largest reply taken from this server (bytes); empty: UPSTREAM_MAX_REPLY_BYTES.",
    )
    handshake_timeout_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1), MaxValueValidator(600)],
        help_text="How long the handshake with this server may take; empty: "
        "UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS.",
    )
    list_deadline_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1), MaxValueValidator(600)],
        help_text="How long a list waits for this server's first catalog; empty: "
        "UPSTREAM_LIST_DEADLINE_SECONDS.",
    )
    catalog = models.JSONField(default=dict, blank=True, help_text="Discovered capabilities.")
    catalog_updated_at = models.DateTimeField(null=True, blank=True)
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    health_detail = models.CharField(max_length=500, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    identity_probe = models.JSONField(
        default=dict, blank=True, help_text="What the last identity probe found and proposed."
    )
    identity_probed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="server_unique_name"),
        ]

    def __str__(self):
        return self.name


# The capability a member needs to add or change a server of each kind.
KIND_CAPABILITY = {
    Server.Kind.REMOTE: SERVERS_MANAGE,
    Server.Kind.MANAGED: SERVERS_DEPLOY_MANAGED,
    Server.Kind.WORKSTATION: SERVERS_DEPLOY_WORKSTATION,
}
