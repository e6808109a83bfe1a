"""Reads of SCIM: a workspace's people and teams as its SCIM client sees them, each lookup by
SCIM id scoped to the workspace in the same query (another workspace's id is a 404)."""

import uuid

from django.db.models import Prefetch

from identities.scim import errors, filters
from teams.models import Membership, Team, WorkspaceScim


def scim_settings_of(workspace) -> WorkspaceScim | None:
    return WorkspaceScim.objects.for_workspace(workspace).select_related("default_role").first()


def users_of(workspace, *, filter_text: str | None = None):
    """Every membership, suspended ones included (`active: false`), oldest first."""
    memberships = (
        Membership.everyone.for_workspace(workspace)
        .select_related("user", "role")
        .prefetch_related(Prefetch("teams", queryset=Team.objects.order_by("name")))
        .order_by("created_at", "pk")
    )
    if filter_text:
        memberships = memberships.filter(filters.users_matching(filter_text))
    return memberships


def members_prefetch() -> Prefetch:
    """A team's members, suspended ones included: `team.memberships` alone goes through
    Membership's default manager, which sees active ones only."""
    return Prefetch(
        "memberships",
        queryset=Membership.everyone.select_related("user").order_by("created_at", "pk"),
    )


def groups_of(workspace, *, filter_text: str | None = None, with_members: bool = True):
    teams = Team.objects.for_workspace(workspace).select_related("workspace").order_by("pk")
    if with_members:
        teams = teams.prefetch_related(members_prefetch())
    if filter_text:
        teams = teams.filter(filters.groups_matching(filter_text)).distinct()
    return teams


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _by_scim_id(rows, scim_id, resource_type: str):
    key = _uuid(scim_id)
    found = rows.filter(scim_id=key).first() if key else None
    if found is None:
        raise errors.not_found(resource_type, scim_id)
    return found


def access_user(workspace, scim_id) -> Membership:
    return _by_scim_id(users_of(workspace), scim_id, "User")


def access_group(workspace, scim_id) -> Team:
    return _by_scim_id(groups_of(workspace), scim_id, "Group")


def memberships_by_scim_id(workspace, values) -> list[Membership]:
    """The memberships a Group's `members` name; an id not in this workspace is refused."""
    keys = {value: _uuid(value) for value in values}
    bad = [value for value, key in keys.items() if key is None]
    found = list(
        Membership.everyone.for_workspace(workspace).filter(
            scim_id__in=[key for key in keys.values() if key]
        )
    )
    missing = {key for key in keys.values() if key} - {m.scim_id for m in found}
    if bad or missing:
        unknown = ", ".join(sorted(bad + [str(key) for key in missing]))
        raise errors.invalid_value(f"No User with id {unknown} in this workspace.")
    return found
