"""Workspaces (the tenant), people, memberships, roles and teams, and the admin change log
(`ConfigChange`: one row per configuration change, written by `teams.changes.record_change`)."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models

from teams.capabilities import ALL_KEYS
from teams.scoping import WorkspaceManager

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person; signs in by email. Belongs to workspaces through memberships."""

    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self):
        return self.email


class Workspace(models.Model):
    """The tenant. Every domain row belongs to exactly one workspace."""

    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class Role(models.Model):
    """A named set of capabilities. Built-in roles are seeded per workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="roles")
    key = models.SlugField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=120)
    capabilities = models.JSONField(default=list, blank=True)
    builtin = models.BooleanField(default=False)
    locked = models.BooleanField(default=False, help_text="Locked roles cannot be edited.")

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="role_unique_key"),
        ]

    def __str__(self):
        return f"{self.workspace.slug}/{self.key}"

    @property
    def capability_set(self) -> frozenset[str]:
        return frozenset(self.capabilities) & ALL_KEYS


class Team(models.Model):
    """A group of members; gateways are provisioned to teams."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="teams")
    slug = models.SlugField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=120)
    # The team as a SCIM Group: its id there, and the identity provider's own id for it.
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField(max_length=255, blank=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="team_unique_slug"),
        ]

    def __str__(self):
        return f"{self.workspace.slug}/{self.slug}"


class ActiveMembershipManager(WorkspaceManager):
    """Memberships that grant access: a suspended one (`active=False`) is not among them."""

    def get_queryset(self):
        return super().get_queryset().filter(active=True)


class Membership(models.Model):
    """A person in a workspace, with exactly one role and any number of teams.

    A suspended membership (`active=False`, set by SCIM deprovisioning) keeps the person's
    teams and history but grants nothing: `Membership.objects` leaves it out, so every access
    decision that reads memberships through it refuses the person. `Membership.everyone`
    includes suspended members, for the pages and protocols that list people.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.RESTRICT, related_name="memberships")
    teams = models.ManyToManyField(Team, blank=True, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)
    # The membership as a SCIM User: its id there, the identity provider's own id for the
    # person, and the attributes it sent that have no column of their own (name, emails, ...).
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    # The userName SCIM gave, lowercased (it is case-insensitive), so identity providers' look-ups
    # before each create are one indexed query; blank: the userName is the person's email.
    scim_user_name = models.CharField(max_length=255, blank=True, db_index=True)
    scim_attributes = models.JSONField(default=dict, blank=True)

    objects = ActiveMembershipManager()
    everyone = WorkspaceManager()

    class Meta:
        ordering = ["workspace", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
            # The uniqueness check of identities/scim reads before it writes; this settles a race.
            models.UniqueConstraint(
                fields=["workspace", "scim_user_name"],
                condition=~models.Q(scim_user_name=""),
                name="membership_unique_scim_user_name",
            ),
        ]

    def __str__(self):
        return f"{self.user.email} in {self.workspace.slug}"

    def has(self, capability: str) -> bool:
        return capability in self.role.capability_set


class WorkspaceSso(models.Model):
    """A workspace's identity provider (OpenID Connect or SAML 2.0), for sign-in by email domain.

    allauth sees it as an `openid_connect` or `saml` app with provider id `ws-<workspace slug>`
    (teams/sso/adapter.py builds it from this row); the client secret is kept only here,
    encrypted with the upstream credential keys.
    """

    OIDC = "oidc"
    SAML = "saml"
    PROTOCOLS = [(OIDC, "OpenID Connect"), (SAML, "SAML 2.0")]

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="sso")
    enabled = models.BooleanField(default=True)
    protocol = models.CharField(max_length=10, choices=PROTOCOLS, default=OIDC)
    issuer = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret_encrypted = models.TextField(blank=True)
    scopes = models.CharField(max_length=255, default="openid profile email")
    # Null falls back to the built-in member role, so deleting a custom role never breaks SSO.
    default_role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.SET_NULL)
    groups_claim = models.CharField(max_length=100, blank=True, default="groups")
    # {"<IdP group>": "<team slug>"}; teams named here are kept in step with the groups.
    group_teams = models.JSONField(default=dict, blank=True)
    # Shows a button naming the workspace on the public sign-in page.
    show_button = models.BooleanField(default=False)
    # SAML: the identity provider, read from its metadata URL (when given) at each save.
    idp_entity_id = models.CharField(max_length=500, blank=True)
    idp_sso_url = models.URLField(max_length=500, blank=True)
    idp_x509cert = models.TextField(blank=True)
    idp_metadata_url = models.URLField(max_length=500, blank=True)
    # SAML attribute names; a blank email attribute means the NameID is the address.
    email_attribute = models.CharField(max_length=255, blank=True, default="email")
    first_name_attribute = models.CharField(max_length=255, blank=True)
    last_name_attribute = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    def __str__(self):
        return f"{self.workspace.slug} sso"

    @property
    def provider_id(self) -> str:
        return f"ws-{self.workspace.slug}"


class WorkspaceScim(models.Model):
    """How a workspace's SCIM client provisions: the role new people get, and which team each
    SCIM Group stands for (`group_teams`, by the group's name; unnamed groups match a team of
    the same name, or get a new one)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="scim")
    # Null falls back to the built-in member role, so deleting a custom role never breaks SCIM.
    default_role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.SET_NULL)
    # {"<SCIM group displayName>": "<team slug>"}
    group_teams = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    def __str__(self):
        return f"{self.workspace.slug} scim"


class SsoDomain(models.Model):
    """An email domain whose people sign in through one workspace's identity provider."""

    sso = models.ForeignKey(WorkspaceSso, on_delete=models.CASCADE, related_name="domains")
    # Unique across workspaces: a domain is claimed by one workspace only.
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self):
        return self.domain


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
        # Kept from when the change log lived in the audit app.
        db_table = "audit_configchange"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.target_type} {self.target}"
