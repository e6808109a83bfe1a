"""Single sign-on: a workspace's identity provider, its email domains, and provisioning.

`configure_sso` validates and saves a workspace's OpenID Connect settings (the client secret
encrypted) or SAML settings (checked in teams/sso/saml.py) and writes the admin audit row.
`sso_for_email` picks the workspace whose domain an address belongs to. `provision_member` runs
at every SSO sign-in, whichever the protocol: the first one makes the person a member with the
workspace's default role, and each one brings the teams named in the group mapping in step with
the person's groups at the identity provider.
"""

import re

from django.db import IntegrityError, transaction

from core import crypto
from core.errors import Conflict, ValidationFailed
from teams import provisioning, services
from teams.capabilities import DEFAULT_ROLE_KEY
from teams.changes import record_change
from teams.grants import check_grantable
from teams.models import Membership, Role, SsoDomain, Team, Workspace, WorkspaceSso
from teams.sso.fetch import check_issuer
from teams.sso.saml import check_saml, saml_available

PROVIDER_PREFIX = "ws-"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")


class SsoRefused(Exception):
    """A sign-in the workspace's SSO settings do not allow; the message is shown to the person."""


def sso_of(workspace: Workspace) -> WorkspaceSso | None:
    return (
        WorkspaceSso.objects.for_workspace(workspace)
        .select_related("default_role")
        .prefetch_related("domains")
        .first()
    )


def client_secret(sso: WorkspaceSso) -> str:
    if not sso.client_secret_encrypted:
        return ""
    return crypto.decrypt(sso.client_secret_encrypted)["client_secret"]


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def enabled_ssos():
    """Enabled SSO settings this platform can serve (SAML only with the `saml` extra)."""
    ssos = WorkspaceSso.objects.filter(enabled=True)
    if not saml_available():
        ssos = ssos.exclude(protocol=WorkspaceSso.SAML)
    return ssos.select_related("workspace", "default_role")


def sso_for_email(email: str) -> WorkspaceSso | None:
    """The enabled SSO of the workspace that claims the address's domain."""
    return enabled_ssos().filter(domains__domain=domain_of(email)).first()


def sso_for_provider(provider_id: str) -> WorkspaceSso | None:
    """The enabled SSO behind allauth's provider id `ws-<workspace slug>`."""
    if not provider_id.startswith(PROVIDER_PREFIX):
        return None
    slug = provider_id[len(PROVIDER_PREFIX) :]
    return enabled_ssos().filter(workspace__slug=slug).first()


def _domains(values) -> list[str]:
    domains = []
    for value in values or []:
        domain = str(value).strip().lower().lstrip("@")
        if not _DOMAIN.match(domain):
            raise ValidationFailed(f"'{value}' is not an email domain.", field="domains")
        domains.append(domain)
    return sorted(set(domains))


def _apply_oidc(sso, *, issuer, client_id, client_secret, scopes) -> None:
    client_id = (client_id or "").strip()
    if not client_id:
        raise ValidationFailed("Enter the client id.", field="client_id")
    if client_secret is None and not sso.client_secret_encrypted:
        raise ValidationFailed("Enter the client secret.", field="client_secret")
    scope_list = (scopes or "").split()
    if "openid" not in scope_list:
        raise ValidationFailed("The scopes must include openid.", field="scopes")
    sso.issuer = check_issuer(issuer)
    sso.client_id = client_id
    if client_secret is not None:
        sso.client_secret_encrypted = crypto.encrypt({"client_secret": client_secret})
    sso.scopes = " ".join(dict.fromkeys(scope_list))


@transaction.atomic
def configure_sso(
    *,
    workspace: Workspace,
    actor,
    acting_member: Membership | None,
    domains,
    protocol: str = WorkspaceSso.OIDC,
    issuer: str = "",
    client_id: str = "",
    client_secret: str | None = None,
    enabled: bool = True,
    default_role_key: str = DEFAULT_ROLE_KEY,
    groups_claim: str = "groups",
    group_teams=None,
    scopes: str = "openid profile email",
    show_button: bool = False,
    idp_entity_id: str = "",
    idp_sso_url: str = "",
    idp_x509cert: str = "",
    idp_metadata_url: str = "",
    email_attribute: str = "email",
    first_name_attribute: str = "",
    last_name_attribute: str = "",
) -> WorkspaceSso:
    """Create or replace the workspace's SSO settings; `client_secret=None` keeps the stored one.

    Settings of the protocol not chosen are kept as they were, so switching back loses nothing.
    Whoever sets the role new members get must be allowed to grant it (`acting_member`).
    """
    try:
        role = Role.objects.for_workspace(workspace).get(key=default_role_key)
    except Role.DoesNotExist as exc:
        raise ValidationFailed(f"Unknown role '{default_role_key}'.", field="default_role") from exc
    check_grantable(membership=acting_member, capabilities=role.capabilities)
    sso = WorkspaceSso.objects.for_workspace(workspace).first() or WorkspaceSso(workspace=workspace)
    created = sso.pk is None
    if protocol not in dict(WorkspaceSso.PROTOCOLS):
        raise ValidationFailed("Choose OpenID Connect (oidc) or SAML (saml).", field="protocol")
    domains = _domains(domains)
    if enabled and not domains:
        raise ValidationFailed("Name at least one email domain.", field="domains")
    groups_claim = (groups_claim or "").strip()
    if groups_claim and not _CLAIM.match(groups_claim):
        raise ValidationFailed("The groups claim is not a claim name.", field="groups_claim")

    if protocol == WorkspaceSso.OIDC:
        _apply_oidc(
            sso, issuer=issuer, client_id=client_id, client_secret=client_secret, scopes=scopes
        )
        detail = {"issuer": sso.issuer, "client_id": sso.client_id}
        detail["client_secret_changed"] = client_secret is not None
    else:
        saml = check_saml(
            idp_entity_id=idp_entity_id,
            idp_sso_url=idp_sso_url,
            idp_x509cert=idp_x509cert,
            idp_metadata_url=idp_metadata_url,
            email_attribute=email_attribute,
            first_name_attribute=first_name_attribute,
            last_name_attribute=last_name_attribute,
        )
        for field, value in saml.items():
            setattr(sso, field, value)
        detail = {key: saml[key] for key in ("idp_entity_id", "idp_sso_url", "idp_metadata_url")}
    sso.protocol = protocol
    sso.enabled = enabled
    sso.default_role = role
    sso.groups_claim = groups_claim
    sso.group_teams = provisioning.checked_group_teams(workspace, group_teams or {})
    sso.show_button = show_button
    sso.save()

    taken = (
        SsoDomain.objects.filter(domain__in=domains)
        .exclude(sso=sso)
        .values_list("domain", flat=True)
    )
    if taken:
        raise Conflict(
            f"Another workspace already signs in {', '.join(sorted(taken))}.", field="domains"
        )
    sso.domains.exclude(domain__in=domains).delete()
    try:
        with transaction.atomic():
            for domain in domains:
                SsoDomain.objects.get_or_create(sso=sso, domain=domain)
    except IntegrityError as exc:  # claimed by another workspace at the same moment
        raise Conflict("Another workspace already signs in one of these domains.") from exc

    record_change(
        workspace=workspace,
        actor=actor,
        action="sso.create" if created else "sso.update",
        target=sso,
        detail={
            "enabled": enabled,
            "protocol": protocol,
            **detail,
            "domains": domains,
            "default_role": role.key,
            "group_teams": sso.group_teams,
        },
    )
    return sso


def rotate_client_secret(*, workspace: Workspace) -> bool:
    """Re-encrypt the stored client secret with the first key; False when there is none."""
    sso = WorkspaceSso.objects.for_workspace(workspace).first()
    if sso is None or not sso.client_secret_encrypted:
        return False
    sso.client_secret_encrypted = crypto.rotate(sso.client_secret_encrypted)
    sso.save(update_fields=["client_secret_encrypted"])
    return True


def check_email(sso: WorkspaceSso, email: str | None) -> str:
    """The address, lowercased, if it belongs to one of the workspace's domains."""
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        raise SsoRefused("The identity provider did not give an email address.")
    if not sso.domains.filter(domain=domain_of(email)).exists():
        raise SsoRefused(
            f"{email} is not in a domain that {sso.workspace.name} signs in with single sign-on."
        )
    return email


def _groups(claims: dict, claim: str) -> set[str]:
    value = claims.get(claim) if claim else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(item) for item in value}
    return set()


@transaction.atomic
def provision_member(*, sso: WorkspaceSso, user, claims: dict) -> Membership:
    """Make `user` a member (first sign-in) and sync the mapped teams with their groups."""
    workspace = sso.workspace
    groups = _groups(claims, sso.groups_claim)
    managed = set(sso.group_teams.values())
    existing = set(
        Team.objects.for_workspace(workspace)
        .filter(slug__in=managed)
        .values_list("slug", flat=True)
    )
    # Groups the mapping does not name are ignored; no team is ever created from a claim.
    granted = {sso.group_teams[g] for g in groups if g in sso.group_teams} & existing
    membership = (
        Membership.everyone.for_workspace(workspace)
        .filter(user=user)
        .select_related("role")
        .first()
    )
    if membership is not None and not membership.active:
        # Signing in again does not undo a suspension; only SCIM or an admin does.
        raise SsoRefused(f"Access to {workspace.name} is suspended for {user.email}.")
    if membership is None:
        if Membership.everyone.for_workspace(workspace).filter(user=user).exists():
            raise SsoRefused(f"{user.email} is suspended in {workspace.name}.")
        return provisioning.provision_person(
            workspace=workspace, user=user, team_slugs=sorted(granted), actor=user
        )
    current = set(membership.teams.values_list("slug", flat=True))
    wanted = (current - managed) | granted
    if wanted != current:
        services.update_member(
            membership=membership, team_slugs=sorted(wanted), actor=user, acting_member=None
        )
    return membership
