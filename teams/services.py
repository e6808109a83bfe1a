"""Writes of the tenancy app: each validates, runs in one transaction, leaves an audit row.

Every write that grants capabilities (defining a role, giving one to a person, taking one away)
takes `acting_member`, the member doing it, and refuses what they could not grant themselves
(`teams.grants.check_grantable`). It is None only where no member acts: config as code, SSO
provisioning, a new workspace's first owner.
"""

from django.db import IntegrityError, transaction

from core import config_events
from core.errors import Conflict, ValidationFailed
from teams.capabilities import ALL_KEYS, BUILTIN_ROLES, DEFAULT_ROLE_KEY
from teams.changes import record_change
from teams.grants import check_grantable
from teams.models import Membership, Role, Team, User, Workspace


def _check_capabilities(capabilities) -> list[str]:
    unknown = sorted(set(capabilities) - ALL_KEYS)
    if unknown:
        raise ValidationFailed(f"Unknown capabilities: {', '.join(unknown)}.", field="capabilities")
    return sorted(set(capabilities))


@transaction.atomic
def create_workspace(*, slug: str, name: str, actor=None, owner: User | None = None) -> Workspace:
    if Workspace.objects.filter(slug=slug).exists():
        raise Conflict(f"A workspace with slug '{slug}' already exists.", field="slug")
    workspace = Workspace(slug=slug, name=name)
    workspace.full_clean()
    workspace.save()
    ensure_builtin_roles(workspace=workspace)
    if owner is not None:
        add_member(
            workspace=workspace, user=owner, role_key="owner", actor=actor, acting_member=None
        )
    record_change(workspace=workspace, actor=actor, action="workspace.create", target=workspace)
    return workspace


def ensure_builtin_roles(*, workspace: Workspace) -> None:
    for key, spec in BUILTIN_ROLES.items():
        Role.objects.update_or_create(
            workspace=workspace,
            key=key,
            defaults={
                "name": spec["name"],
                "capabilities": spec["capabilities"],
                "builtin": True,
                "locked": spec["locked"],
            },
        )


@transaction.atomic
def update_workspace(*, workspace: Workspace, name: str, actor) -> Workspace:
    workspace.name = name
    workspace.full_clean()
    workspace.save(update_fields=["name"])
    record_change(workspace=workspace, actor=actor, action="workspace.update", target=workspace)
    return workspace


@transaction.atomic
def create_team(*, workspace: Workspace, slug: str, name: str, actor) -> Team:
    team = Team(workspace=workspace, slug=slug, name=name)
    team.full_clean(exclude=["workspace"], validate_constraints=False)
    if Team.objects.for_workspace(workspace).filter(slug=slug).exists():
        raise Conflict(f"A team with slug '{slug}' already exists.", field="slug")
    team.save()
    record_change(workspace=workspace, actor=actor, action="team.create", target=team)
    return team


@transaction.atomic
def update_team(*, team: Team, name: str, actor) -> Team:
    team.name = name
    team.full_clean(exclude=["workspace"], validate_constraints=False)
    team.save(update_fields=["name"])
    record_change(workspace=team.workspace, actor=actor, action="team.update", target=team)
    return team


@transaction.atomic
def delete_team(*, team: Team, actor) -> None:
    record_change(workspace=team.workspace, actor=actor, action="team.delete", target=team)
    team.delete()
    config_events.workspace_changed(workspace_id=team.workspace_id)


@transaction.atomic
def create_role(
    *,
    workspace: Workspace,
    key: str,
    name: str,
    capabilities,
    actor,
    acting_member: Membership | None,
    builtin: bool = False,
) -> Role:
    check_grantable(membership=acting_member, capabilities=capabilities)
    role = Role(
        workspace=workspace, key=key, name=name, capabilities=_check_capabilities(capabilities)
    )
    role.full_clean(exclude=["workspace"], validate_constraints=False)
    if Role.objects.for_workspace(workspace).filter(key=key).exists():
        raise Conflict(f"A role with key '{key}' already exists.", field="key")
    role.save()
    record_change(workspace=workspace, actor=actor, action="role.create", target=role)
    return role


@transaction.atomic
def update_role(
    *,
    role: Role,
    actor,
    acting_member: Membership | None,
    name: str | None = None,
    capabilities=None,
) -> Role:
    if capabilities is not None:
        # Both what the role held and what it will hold: editing a role is granting it.
        check_grantable(
            membership=acting_member, capabilities=set(role.capabilities) | set(capabilities)
        )
    if role.locked:
        raise ValidationFailed(f"The role '{role.name}' is locked and cannot be edited.")
    if name is not None:
        role.name = name
    if capabilities is not None:
        role.capabilities = _check_capabilities(capabilities)
    role.full_clean(exclude=["workspace"], validate_constraints=False)
    role.save()
    config_events.workspace_changed(workspace_id=role.workspace_id)
    record_change(
        workspace=role.workspace,
        actor=actor,
        action="role.update",
        target=role,
        detail={"capabilities": role.capabilities},
    )
    return role


def duplicate_role(
    *, role: Role, key: str, name: str, actor, acting_member: Membership | None
) -> Role:
    return create_role(
        workspace=role.workspace,
        key=key,
        name=name,
        capabilities=role.capabilities,
        actor=actor,
        acting_member=acting_member,
    )


@transaction.atomic
def delete_role(*, role: Role, actor) -> None:
    if role.builtin:
        raise ValidationFailed(f"The built-in role '{role.name}' cannot be deleted.")
    # Suspended members hold their role too (the row refuses to be deleted under them).
    if Membership.everyone.filter(role=role).exists():
        raise Conflict(f"The role '{role.name}' is still given to members.")
    record_change(workspace=role.workspace, actor=actor, action="role.delete", target=role)
    role.delete()


def _role(workspace: Workspace, key: str) -> Role:
    try:
        return Role.objects.for_workspace(workspace).get(key=key)
    except Role.DoesNotExist as exc:
        raise ValidationFailed(f"Unknown role '{key}'.", field="role") from exc


def _teams(workspace: Workspace, slugs) -> list[Team]:
    slugs = list(dict.fromkeys(slugs or []))
    teams = list(Team.objects.for_workspace(workspace).filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in teams})
    if missing:
        raise ValidationFailed(f"Unknown teams: {', '.join(missing)}.", field="teams")
    return teams


@transaction.atomic
def add_member(
    *,
    workspace: Workspace,
    user: User,
    actor,
    acting_member: Membership | None,
    role_key: str = DEFAULT_ROLE_KEY,
    team_slugs=(),
) -> Membership:
    role = _role(workspace, role_key)
    check_grantable(membership=acting_member, capabilities=role.capabilities)
    teams = _teams(workspace, team_slugs)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    except IntegrityError as exc:
        raise Conflict(f"{user.email} is already a member of this workspace.") from exc
    membership.teams.set(teams)
    config_events.workspace_changed(workspace_id=workspace.pk)
    record_change(
        workspace=workspace,
        actor=actor,
        action="member.add",
        target=membership,
        detail={"role": role.key, "teams": [t.slug for t in teams]},
    )
    return membership


@transaction.atomic
def invite_member(
    *,
    workspace: Workspace,
    email: str,
    actor,
    acting_member: Membership | None,
    role_key: str = DEFAULT_ROLE_KEY,
    team_slugs=(),
) -> Membership:
    """Add a person by email, creating their account (without a usable password) if new."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email)
    return add_member(
        workspace=workspace,
        user=user,
        actor=actor,
        acting_member=acting_member,
        role_key=role_key,
        team_slugs=team_slugs,
    )


@transaction.atomic
def update_member(
    *,
    membership: Membership,
    actor,
    acting_member: Membership | None,
    role_key: str | None = None,
    team_slugs=None,
) -> Membership:
    workspace = membership.workspace
    detail = {}
    new_role = None
    if role_key is not None:
        # Changing someone's role both takes away what they had and grants the new one.
        check_grantable(membership=acting_member, capabilities=membership.role.capabilities)
        new_role = _role(workspace, role_key)
        check_grantable(membership=acting_member, capabilities=new_role.capabilities)
    if new_role is not None and new_role.pk != membership.role_id:
        if membership.role.key == "owner" and _is_last_owner(membership):
            raise ValidationFailed("The last owner of a workspace keeps the Owner role.")
        membership.role = new_role
        membership.save(update_fields=["role"])
        detail["role"] = role_key
    if team_slugs is not None:
        membership.teams.set(_teams(workspace, team_slugs))
        detail["teams"] = sorted(team_slugs)
    config_events.workspace_changed(workspace_id=workspace.pk)
    record_change(
        workspace=workspace, actor=actor, action="member.update", target=membership, detail=detail
    )
    return membership


def _is_last_owner(membership: Membership) -> bool:
    return (
        not Membership.objects.for_workspace(membership.workspace)
        .filter(role__key="owner")
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def remove_member(
    *, membership: Membership, actor, acting_member: Membership | None, detail: dict | None = None
) -> None:
    """Remove a membership. The edges call `identities.offboarding.remove_member_and_revoke`,
    which also revokes the person's tokens, sessions and connections in the workspace."""
    # Removing someone takes away every capability their role holds.
    check_grantable(membership=acting_member, capabilities=membership.role.capabilities)
    if membership.role.key == "owner" and _is_last_owner(membership):
        raise ValidationFailed("The last owner of a workspace cannot be removed.")
    record_change(
        workspace=membership.workspace,
        actor=actor,
        action="member.remove",
        target=membership,
        detail=detail,
    )
    membership.delete()
    config_events.workspace_changed(workspace_id=membership.workspace_id)
