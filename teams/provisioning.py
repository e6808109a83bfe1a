"""Provisioning: how a person an identity provider vouches for becomes a member.

SSO sign-in (teams/sso/services.py) and SCIM (identities/scim/services.py) both make people
members here, so the two never disagree on the role new people get: the role of the workspace's
SCIM settings when it names one, else the default role of its SSO settings, else `member`.
The role comes from the workspace's settings, not from a member, so no member's grants apply.
"""

from core.errors import ValidationFailed
from teams import services
from teams.capabilities import DEFAULT_ROLE_KEY
from teams.models import Membership, Team, Workspace, WorkspaceScim, WorkspaceSso


def role_for_new_people(workspace: Workspace) -> str:
    scim = WorkspaceScim.objects.for_workspace(workspace).select_related("default_role").first()
    if scim is not None and scim.default_role is not None:
        return scim.default_role.key
    sso = WorkspaceSso.objects.for_workspace(workspace).select_related("default_role").first()
    if sso is not None and sso.default_role is not None:
        return sso.default_role.key
    return DEFAULT_ROLE_KEY


def provision_person(*, workspace: Workspace, user, actor, team_slugs=()) -> Membership:
    """Make `user` a member with the role for new people, in the teams named."""
    return services.add_member(
        workspace=workspace,
        user=user,
        role_key=role_for_new_people(workspace),
        team_slugs=team_slugs,
        actor=actor,
        acting_member=None,  # the workspace's settings grant the role, not a member
    )


def checked_group_teams(workspace: Workspace, mapping) -> dict[str, str]:
    """An identity provider's group names mapped to team slugs of the workspace (the SSO and
    SCIM settings both hold one), checked and sorted; ValidationFailed names what is wrong."""
    if not isinstance(mapping, dict):
        raise ValidationFailed("Map each group name to a team slug.", field="group_teams")
    clean = {str(group).strip(): str(slug).strip() for group, slug in mapping.items()}
    if any(not group for group in clean):
        raise ValidationFailed("A group name is empty.", field="group_teams")
    known = set(
        Team.objects.for_workspace(workspace)
        .filter(slug__in=clean.values())
        .values_list("slug", flat=True)
    )
    missing = sorted(set(clean.values()) - known)
    if missing:
        raise ValidationFailed(f"Unknown teams: {', '.join(missing)}.", field="group_teams")
    return dict(sorted(clean.items()))
