"""Reads of the tenancy app: workspaces, memberships, roles and teams, always scoped."""

from django.http import Http404

from teams.models import Membership, Role, Team, Workspace
from teams.scoping import get_scoped_or_404


def membership_for(*, user, workspace_slug: str) -> Membership:
    """The caller's membership in a workspace; a workspace they are not in is a 404."""
    if user is None or not user.is_authenticated:
        raise Http404("No workspace matches the given query.")
    try:
        return Membership.objects.select_related("workspace", "role").get(
            workspace__slug=workspace_slug, user=user
        )
    except Membership.DoesNotExist as exc:
        raise Http404("No workspace matches the given query.") from exc


def workspaces_of(user):
    # A join does not go through `Membership.objects`, so suspended memberships are left out here.
    return Workspace.objects.filter(memberships__user=user, memberships__active=True).order_by(
        "slug"
    )


def access_team(workspace, slug: str) -> Team:
    return get_scoped_or_404(Team.objects, workspace, slug=slug)


def access_role(workspace, key: str) -> Role:
    return get_scoped_or_404(Role.objects, workspace, key=key)


def access_membership(workspace, member_id) -> Membership:
    """A member for the people pages, suspended or not, so an admin can change or remove them."""
    return get_scoped_or_404(
        Membership.everyone.select_related("user", "role"), workspace, pk=member_id
    )


def team_ids_of(membership: Membership) -> list[int]:
    return list(membership.teams.values_list("pk", flat=True))


def memberships_of(user):
    """The caller's memberships with their workspace and role, for the workspace list."""
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace", "role")
        .order_by("workspace__slug")
    )


def memberships_in(workspace):
    """Everyone in the workspace, suspended members included (they show as such)."""
    return (
        Membership.everyone.for_workspace(workspace)
        .select_related("user", "role")
        .prefetch_related("teams")
        .order_by("user__email")
    )


def member_by_email(workspace, email: str) -> Membership | None:
    return (
        Membership.objects.for_workspace(workspace)
        .select_related("user", "workspace")
        .filter(user__email__iexact=email.strip())
        .first()
    )


def role_named(workspace, key: str) -> Role | None:
    """A role of the workspace by key, or None; for references inside a request body."""
    return Role.objects.for_workspace(workspace).filter(key=key).first()
