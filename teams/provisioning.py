"""Provisioning: how a person an identity provider vouches for becomes a member.

SSO sign-in (teams/sso/services.py) and SCIM (identities/scim/services.py) both make people
members here, so the two never disagree on the role new people get: the role of the workspace's
SCIM settings when it names one, else the default role of its SSO settings, else `member`.
The role comes from the workspace's settings, not from a member, so no member's grants apply.
"""

from teams import services
from teams.capabilities import DEFAULT_ROLE_KEY
from teams.models import Membership, Workspace, WorkspaceScim, WorkspaceSso


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
