"""Writes of SCIM: people and teams created, changed, suspended and removed by a workspace's
identity provider, through the same tenancy services as the console, the API and SSO.

Every write records an admin change-log row naming the SCIM client (`detail.client`, the name of
its token). `active: false` suspends the membership and `active: true` gives it back
(identities/offboarding.py); DELETE removes it.
"""

import functools
import json
import uuid
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils.text import slugify
from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException, ScimPolicy

from core import config_events
from core.errors import Conflict, ValidationFailed
from identities import offboarding
from identities.scim import documents, errors, filters, selectors
from teams import provisioning
from teams import services as team_services
from teams.changes import record_change
from teams.grants import check_grantable
from teams.models import Membership, Role, Team, User, WorkspaceScim

# Microsoft Entra removes a member with `"value": [{"value": id}]` and writes
# `emails[type eq "work"].value` before that email exists; both are read as Entra means them.
POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
_NAME_MAX = Team._meta.get_field("name").max_length


@dataclass(frozen=True)
class ScimClient:
    """Who is provisioning: the SCIM token's name, written into every change-log row."""

    name: str

    @property
    def detail(self) -> dict:
        return {"via": "scim", "client": self.name}


def _is_email(value) -> bool:
    try:
        validate_email(value or "")
    except DjangoValidationError:
        return False
    return True


def _address(resource) -> str | None:
    """The person's sign-in address: the userName when it is one, else their primary email."""
    if _is_email(resource.user_name):
        return resource.user_name.strip().lower()
    emails = sorted(resource.emails or [], key=lambda email: not email.primary)
    for email in emails:
        if _is_email(email.value):
            return email.value.strip().lower()
    return None


def _keep(membership: Membership, resource) -> None:
    """Store the SCIM document's attributes on the membership."""
    membership.external_id = resource.external_id or ""
    membership.scim_user_name = resource.user_name.strip().lower()[:255]
    membership.scim_attributes = documents.stored_attributes(resource)
    membership.save(update_fields=["external_id", "scim_user_name", "scim_attributes"])


def _no_address(workspace) -> str:
    """The account address of a person provisioned with none: under the reserved `.invalid`
    domain (RFC 2606), so no mail goes out and no SSO domain claims it. They cannot sign in
    until their identity provider sends an address, which then replaces this one."""
    return f"scim-{uuid.uuid4().hex}@{workspace.slug}.scim.invalid"


def _check_user_name_free(workspace, user_name: str, *, exclude: Membership | None = None):
    if len(user_name) > 255:
        raise errors.invalid_value("A userName has at most 255 characters.")
    taken = selectors.users_of(workspace).filter(filters.user_name_is(user_name))
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise errors.uniqueness(f"The userName '{user_name}' is already taken.")


def _refuse_owner(membership: Membership, doing: str) -> None:
    # Whoever holds the SCIM token must not lock a workspace out of its own console.
    if membership.role.key == "owner":
        raise errors.ScimError(
            f"{membership.user.email} is an owner and cannot be {doing} by SCIM; "
            "owners are managed in the console.",
            scim_type="mutability",
        )


def _set_active(membership: Membership, active, client: ScimClient) -> None:
    """`active: false` suspends and `true` gives access back; no `active` at all leaves the
    membership as it is, so a PUT that omits it does not reactivate a suspended person."""
    if active is False:
        if membership.active:
            _refuse_owner(membership, "suspended")
        offboarding.suspend_member(membership=membership, actor=None, detail=client.detail)
    elif active is True:
        offboarding.reactivate_member(membership=membership, actor=None, detail=client.detail)


def _unique(write):
    """Run a write of a User in its own transaction; a row stored by a request running at the
    same moment (the same userName or person) is the SCIM `uniqueness` error, not a 500."""

    @functools.wraps(write)
    def run(**kwargs):
        try:
            with transaction.atomic():
                return write(**kwargs)
        except IntegrityError as exc:
            raise errors.uniqueness(
                "This userName or person was just provisioned by another request."
            ) from exc

    return run


@_unique
def create_user(*, workspace, resource, client: ScimClient) -> Membership:
    _check_user_name_free(workspace, resource.user_name)
    address = _address(resource) or _no_address(workspace)
    user = User.objects.filter(email=address).first()
    if user is None:
        name = resource.name
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=address,
                    first_name=((name.given_name if name else None) or "")[:150],
                    last_name=((name.family_name if name else None) or "")[:150],
                )
        except IntegrityError as exc:  # created by a request running at the same moment
            raise errors.uniqueness(f"{address} was just created; look it up again.") from exc
    if Membership.everyone.for_workspace(workspace).filter(user=user).exists():
        raise errors.uniqueness(f"{address} is already a member of this workspace.")
    membership = provisioning.provision_person(workspace=workspace, user=user, actor=None)
    _keep(membership, resource)
    _set_active(membership, resource.active, client)
    record_change(
        workspace=workspace,
        actor=None,
        action="scim.user.create",
        target=membership,
        detail={**client.detail, "userName": resource.user_name},
    )
    return membership


def _change_address(membership: Membership, address: str | None) -> None:
    """Give the person's account the address SCIM sends. Only an account SCIM may manage is
    changed: one without a password of its own (SCIM and SSO create them so), not a platform
    operator's, not an owner's and not shared with another workspace. Anyone else could be
    taken over by whoever holds the SCIM token, through a password reset sent to the new address.
    """
    user = membership.user
    if address is None or address == user.email:
        return
    if User.objects.filter(email=address).exclude(pk=user.pk).exists():
        raise errors.uniqueness(f"{address} belongs to another person.")
    if user.is_staff or user.is_superuser or user.has_usable_password():
        raise errors.ScimError(
            f"{user.email} signs in with a password or runs the platform; "
            "its address is changed by its owner only.",
            scim_type="mutability",
        )
    if membership.role.key == "owner":
        # Whoever holds the SCIM token must not take over an owner's account by its address.
        raise errors.ScimError(
            f"{user.email} is an owner; an owner changes their own address.", scim_type="mutability"
        )
    if Membership.everyone.filter(user=user).exclude(pk=membership.pk).exists():
        # The account is shared with other workspaces, whose people know it by its address.
        raise errors.ScimError(
            f"{user.email} is also a member of another workspace; its address stays as it is.",
            scim_type="mutability",
        )
    user.email = address
    user.save(update_fields=["email"])
    # allauth resets passwords and signs in by these rows: the old address must not reach it.
    EmailAddress.objects.filter(user=user).delete()
    EmailAddress.objects.create(user=user, email=address, primary=True, verified=False)


@_unique
def replace_user(
    *, membership: Membership, resource, client: ScimClient, active_if_absent: bool | None = None
) -> Membership:
    """Replace the User with `resource`. A PUT without `active` leaves the membership as it is;
    PATCH passes `active_if_absent=True` when it removed `active` (absent means active)."""
    workspace = membership.workspace
    _check_user_name_free(workspace, resource.user_name, exclude=membership)
    _change_address(membership, _address(resource))
    _keep(membership, resource)
    active = resource.active if resource.active is not None else active_if_absent
    _set_active(membership, active, client)
    config_events.workspace_changed(workspace_id=workspace.pk)
    record_change(
        workspace=workspace,
        actor=None,
        action="scim.user.update",
        target=membership,
        detail={**client.detail, "userName": resource.user_name, "active": membership.active},
    )
    return membership


def _patched(model, document: dict, body):
    """The document with the client's PatchOp applied, read back as a replacement."""
    with POLICY:
        patch = documents.read(PatchOp[model], body, context=Context.RESOURCE_PATCH_REQUEST)
    try:
        current = model.model_validate(document, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    except ValidationError as exc:
        # A person added outside SCIM whose address email-validator refuses (no dot, say).
        raise errors.invalid_value(
            f"This resource cannot be patched; replace it with PUT ({exc.errors()[0]['msg']})."
        ) from exc
    try:
        patch.patch(current, scim_policy=POLICY)
    except SCIMException as exc:
        raise errors.ScimError(
            str(exc), status=exc.status, scim_type=exc.scim_type or None
        ) from exc
    except ValidationError as exc:
        raise errors.invalid_value(str(exc.errors()[0]["msg"])) from exc
    dumped = current.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return documents.read(model, dumped, context=Context.RESOURCE_REPLACEMENT_REQUEST)


def patch_user(*, membership: Membership, body, client: ScimClient, base: str) -> Membership:
    document = documents.user_document(membership, base=base)
    resource = _patched(documents.USER_MODEL, document, body)
    removed = "active" in document and resource.active is None
    return replace_user(
        membership=membership,
        resource=resource,
        client=client,
        active_if_absent=True if removed else None,
    )


@transaction.atomic
def delete_user(*, membership: Membership, client: ScimClient) -> None:
    workspace = membership.workspace
    record_change(
        workspace=workspace,
        actor=None,
        action="scim.user.delete",
        target=membership,
        detail=client.detail,
    )
    _refuse_owner(membership, "deleted")
    try:
        # Revokes even when the member is already suspended, and removes in the same transaction.
        offboarding.remove_member_and_revoke(membership=membership, actor=None, acting_member=None)
    except ValidationFailed as exc:
        raise errors.ScimError(exc.message, scim_type="mutability") from exc


# -- groups ------------------------------------------------------------------------------------


def _free_slug(workspace, name: str) -> str:
    base = slugify(name)[:40].strip("-") or "group"
    taken = set(
        Team.objects.for_workspace(workspace)
        .filter(slug__startswith=base)
        .values_list("slug", flat=True)
    )
    slug, n = base, 2
    while slug in taken:
        slug = f"{base}-{n}"
        n += 1
    return slug


def _team_for(workspace, name: str) -> Team | None:
    """The team a new SCIM Group stands for: the mapped one, else the one of the same name."""
    settings = selectors.scim_settings_of(workspace)
    mapped = (settings.group_teams if settings else {}).get(name)
    teams = Team.objects.for_workspace(workspace)
    if mapped:
        return teams.filter(slug=mapped).first()
    return teams.filter(name__iexact=name).first()


def _check_name(name) -> str:
    name = (name or "").strip()
    if not name:
        raise errors.invalid_value("A Group needs a displayName.")
    if len(name) > _NAME_MAX:
        raise errors.invalid_value(f"A displayName has at most {_NAME_MAX} characters.")
    return name


def _set_members(team: Team, resource) -> list[str]:
    values = [member.value for member in resource.members or [] if member.value]
    memberships = selectors.memberships_by_scim_id(team.workspace, values)
    # The through table itself: `team.memberships` sees active members only, so it would never
    # take a suspended one out of the team.
    through = Team.memberships.through
    wanted = {m.pk for m in memberships}
    through.objects.filter(team=team).exclude(membership_id__in=wanted).delete()
    through.objects.bulk_create(
        [through(team=team, membership_id=pk) for pk in wanted], ignore_conflicts=True
    )
    getattr(team, "_prefetched_objects_cache", {}).pop("memberships", None)
    prefetch_related_objects([team], selectors.members_prefetch())
    config_events.workspace_changed(workspace_id=team.workspace_id)
    return sorted(str(m.scim_id) for m in memberships)


@transaction.atomic
def create_group(*, workspace, resource, client: ScimClient) -> Team:
    name = _check_name(resource.display_name)
    team = _team_for(workspace, name)
    if team is not None and team.external_id and team.external_id != resource.external_id:
        raise errors.uniqueness(f"The team '{team.name}' is already provisioned as a Group.")
    if team is None:
        try:
            team = team_services.create_team(
                workspace=workspace, slug=_free_slug(workspace, name), name=name, actor=None
            )
        except (ValidationFailed, Conflict) as exc:
            raise errors.invalid_value(exc.message) from exc
    team.external_id = resource.external_id or ""
    team.save(update_fields=["external_id"])
    members = _set_members(team, resource)
    record_change(
        workspace=workspace,
        actor=None,
        action="scim.group.create",
        target=team,
        detail={**client.detail, "displayName": name, "members": len(members)},
    )
    return team


@transaction.atomic
def replace_group(*, team: Team, resource, client: ScimClient) -> Team:
    name = _check_name(resource.display_name)
    renamed = name != team.name
    team.name = name
    team.external_id = resource.external_id or ""
    team.save(update_fields=["name", "external_id"])
    members = _set_members(team, resource)
    record_change(
        workspace=team.workspace,
        actor=None,
        action="scim.group.update",
        target=team,
        detail={**client.detail, "displayName": name, "renamed": renamed, "members": members},
    )
    return team


def _member_removals_by_id(body: dict) -> dict:
    """Entra removes members with `"value": [{"value": id, "$ref": null}]`; the members listed
    here carry their `$ref`, so each removal is read as `members[value eq "id"]`."""
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    rewritten = []
    for operation in operations:
        value = operation.get("value") if isinstance(operation, dict) else None
        if (
            str(operation.get("op", "")).lower() == "remove"
            and str(operation.get("path", "")).lower() == "members"
            and isinstance(value, list)
            and all(isinstance(item, dict) and isinstance(item.get("value"), str) for item in value)
        ):
            rewritten += [
                {"op": "remove", "path": f"members[value eq {json.dumps(item['value'])}]"}
                for item in value
            ]
        else:
            rewritten.append(operation)
    return {**body, "Operations": rewritten}


def patch_group(*, team: Team, body, client: ScimClient, base: str) -> Team:
    prefetch_related_objects([team], selectors.members_prefetch())
    document = documents.group_document(team, base=base, members=team.memberships.all())
    resource = _patched(documents.GROUP_MODEL, document, _member_removals_by_id(body))
    return replace_group(team=team, resource=resource, client=client)


@transaction.atomic
def delete_group(*, team: Team, client: ScimClient) -> None:
    record_change(
        workspace=team.workspace,
        actor=None,
        action="scim.group.delete",
        target=team,
        detail=client.detail,
    )
    team_services.delete_team(team=team, actor=None)


# -- settings ----------------------------------------------------------------------------------


@transaction.atomic
def configure_scim(
    *, workspace, actor, acting_member, default_role_key: str | None, group_teams
) -> WorkspaceScim:
    """Set the role new people get from SCIM (None: as SSO gives it, else `member`) and which
    team each SCIM Group name stands for. Whoever sets the role must be allowed to grant it."""
    role = None
    if default_role_key:
        role = Role.objects.for_workspace(workspace).filter(key=default_role_key).first()
        if role is None:
            raise ValidationFailed(f"Unknown role '{default_role_key}'.", field="default_role")
        check_grantable(membership=acting_member, capabilities=role.capabilities)
    settings = selectors.scim_settings_of(workspace) or WorkspaceScim(workspace=workspace)
    settings.default_role = role
    settings.group_teams = provisioning.checked_group_teams(workspace, group_teams or {})
    settings.save()
    record_change(
        workspace=workspace,
        actor=actor,
        action="scim.settings.update",
        target=settings,
        detail={"default_role": role.key if role else None, "group_teams": settings.group_teams},
    )
    return settings
