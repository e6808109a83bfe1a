"""Caller credentials. Only digests of tokens are stored."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from teams.models import Membership, Workspace
from teams.scoping import WorkspaceManager


class ApiToken(models.Model):
    """A token a program presents instead of a person's session; its kind says where it opens.

    `gateway`: the MCP URL of its gateway (or, without one, of every gateway its owner is
    provisioned to), and nothing else. `api`: the management API, within its `scopes` and its
    owner's role (teams/api_access.py), and no MCP URL. `scim`: its workspace's SCIM endpoint
    (identities/inbound/scim_access.py), whose identity provider it acts for; `user` is the
    member who issued it. `connector`: the platform's connector socket (`gatehouse-connect`),
    which serves its owner's workstation servers (and shared ones, with the capability).
    """

    class Kind(models.TextChoices):
        GATEWAY = "gateway", "Gateway (MCP clients)"
        API = "api", "Management API"
        CONNECTOR = "connector", "Connector"
        SCIM = "scim", "SCIM provisioning"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    gateway = models.ForeignKey(
        "gateways.Gateway", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.GATEWAY)
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="Of an api token: `read` and/or capability keys (teams/capabilities.py).",
    )
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


# Connector and SCIM tokens are issued where they are used (SCIM: `issue_scim_token`), not by hand.
MINTABLE_KINDS = (ApiToken.Kind.GATEWAY, ApiToken.Kind.API, ApiToken.Kind.CONNECTOR)


class Connector(models.Model):
    """One `gatehouse-connect` process signed in with a connector token: who runs it, where, and
    which workstation servers it serves. A row per connection; `disconnected_at` ends it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="connectors")
    host_name = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=64, blank=True)
    servers = models.JSONField(default=list, blank=True, help_text="Names of the servers served.")
    channel_name = models.CharField(max_length=200, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    disconnect_reason = models.CharField(max_length=200, blank=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "-connected_at"]
        indexes = [models.Index(fields=["workspace", "disconnected_at"])]

    def __str__(self):
        return f"{self.host_name or 'connector'} ({self.user_id})"


class UpstreamCredential(models.Model):
    """What the gateway presents to one assignment's upstream, encrypted at rest.

    No owner: the assignment's shared credential (its service account, or the manual token
    everyone uses). An owner: that person's own manual credential for the assignment.
    """

    class Kind(models.TextChoices):
        BEARER = "bearer", "Bearer token"
        HEADERS = "headers", "Custom headers"
        CLIENT_CREDENTIALS = "client_credentials", "OAuth client credentials"
        OAUTH_CLIENT = "oauth_client", "Pre-registered OAuth client (user_oauth)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(
        "gateways.Assignment", on_delete=models.CASCADE, related_name="credentials"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="upstream_credentials",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    secret = models.TextField(help_text="The encrypted payload (core/crypto.py).")
    hint = models.CharField(max_length=200, blank=True, help_text="A masked reminder.")
    details = models.JSONField(
        default=dict, blank=True, help_text="What is not secret: header names, token URL, scope."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "assignment", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment"],
                condition=models.Q(owner__isnull=True),
                name="upstream_credential_one_shared",
            ),
            models.UniqueConstraint(
                fields=["assignment", "owner"],
                condition=models.Q(owner__isnull=False),
                name="upstream_credential_one_per_person",
            ),
        ]

    def __str__(self):
        whose = self.owner.email if self.owner_id else "shared"
        return f"{self.get_kind_display()} for assignment {self.assignment_id} ({whose})"

    @property
    def shared(self) -> bool:
        return self.owner_id is None


class DisabledClient(models.Model):
    """An OAuth client app switched off in a workspace: for all its gateways, or for one.

    Its tokens stay valid elsewhere; here they open nothing until the app is enabled again.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="+"
    )
    gateway = models.ForeignKey(
        "gateways.Gateway", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "application"],
                condition=models.Q(gateway__isnull=True),
                name="disabled_client_whole_workspace",
            ),
            models.UniqueConstraint(
                fields=["workspace", "application", "gateway"],
                condition=models.Q(gateway__isnull=False),
                name="disabled_client_one_gateway",
            ),
        ]

    def __str__(self):
        return f"{self.application_id} off in {self.workspace_id}/{self.gateway_id or '*'}"


class UpstreamOAuthClient(models.Model):
    """What the platform learnt about a `user_oauth` assignment's authorization server, and the
    client it is there: the pre-registered client an admin set as the assignment's shared
    credential, the platform's own client ID metadata document, or one registered dynamically.
    One per assignment, shared by everyone who connects."""

    class Registration(models.TextChoices):
        PRE_REGISTERED = "pre_registered", "Pre-registered by an administrator"
        METADATA_DOCUMENT = "metadata_document", "Client ID metadata document"
        DYNAMIC = "dynamic", "Registered dynamically (RFC 7591)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    assignment = models.OneToOneField(
        "gateways.Assignment", on_delete=models.CASCADE, related_name="oauth_client"
    )
    server_url = models.CharField(max_length=500, help_text="The upstream URL discovery began at.")
    resource = models.CharField(max_length=500, help_text="RFC 8707 resource indicator.")
    issuer = models.CharField(max_length=500)
    authorization_endpoint = models.CharField(max_length=500)
    token_endpoint = models.CharField(max_length=500)
    revocation_endpoint = models.CharField(
        max_length=500, blank=True, help_text="RFC 7009; empty when the server names none."
    )
    scope = models.CharField(max_length=1000, blank=True)
    redirect_uri = models.CharField(max_length=500)
    client_id = models.CharField(max_length=500)
    secret = models.TextField(
        blank=True, help_text="The encrypted client secret (core/crypto.py); empty if none."
    )
    auth_method = models.CharField(max_length=40, default="none")
    registration = models.CharField(
        max_length=20, choices=Registration.choices, default=Registration.DYNAMIC
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    def __str__(self):
        return f"OAuth client {self.client_id} at {self.issuer}"

    @property
    def registered(self) -> bool:
        """Registered dynamically (RFC 7591)."""
        return self.registration == self.Registration.DYNAMIC


class UpstreamConnection(models.Model):
    """One person's own OAuth connection to a `user_oauth` assignment's upstream: their tokens,
    encrypted at rest, refreshed before they expire."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnecting"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(
        "gateways.Assignment", on_delete=models.CASCADE, related_name="connections"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upstream_connections"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    secret = models.TextField(help_text="The encrypted access and refresh tokens.")
    expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=1000, blank=True)
    wanted_scope = models.CharField(
        max_length=1000,
        blank=True,
        help_text="Scopes the upstream asked for beyond those granted (step-up): the connection "
        "needs more consent, and reconnecting asks for them too.",
    )
    last_error = models.CharField(max_length=300, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "assignment", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "owner"], name="upstream_connection_one_per_person"
            ),
        ]

    def __str__(self):
        return f"{self.owner.email}'s connection to assignment {self.assignment_id}"


class ChosenGateway(models.Model):
    """The gateway a person picked at consent for OAuth tokens bound to a workspace URL
    (`/mcp/<workspace>`): the token's resource stays the workspace URL, and this row says which
    gateway it opens. It follows the grant, then the refresh token family the grant started,
    so every rotation of that family opens the same gateway."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    gateway = models.ForeignKey("gateways.Gateway", on_delete=models.CASCADE, related_name="+")
    grant = models.OneToOneField(
        "oauth2_provider.Grant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chosen_gateway",
    )
    token_family = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    def __str__(self):
        return f"gateway {self.gateway_id} chosen for family {self.token_family or '-'}"


class TrustedIdp(models.Model):
    """An enterprise identity provider whose ID-JAGs (Identity Assertion JWT Authorization
    Grants) the authorization server exchanges for tokens to this workspace's gateways
    (identities/inbound/oauth/id_jag.py). Its keys are read from `jwks_url`; an assertion must
    be addressed to `audience`, or to this platform's issuer when that is blank."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    issuer = models.URLField(max_length=500)
    jwks_url = models.URLField(max_length=500)
    audience = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["issuer"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "issuer"], name="trusted_idp_unique"),
        ]

    def __str__(self):
        return self.issuer


class HeadlessClient(models.Model):
    """A confidential OAuth client an admin registered for a headless agent. The client
    credentials grant gives it gateway tokens that act as `membership`'s person: the gateways,
    rules and audit trail are theirs, and suspending them ends the client's tokens."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="headless"
    )
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.application.name} as {self.membership.user.email}"
