"""Taking a person's access away in one workspace at once, and giving the membership back.

Suspending a membership (SCIM `active: false`) or removing it (SCIM or console DELETE) revokes,
in that workspace, everything the person could still call with: their API tokens of every kind
(but the SCIM tokens they issued, which are the workspace's),
the OAuth access and refresh tokens and authorization codes issued to them for the workspace's
URLs, their own upstream connections (revoked at the upstream too) and manual credentials, and
their console sessions when no other workspace still holds them. The data plane's cached token
lookups are dropped and every snapshot of the workspace is recompiled without the person, so
their next call on any worker is refused; workers close the person's pooled upstream sessions
as they recompile. Their log entries stay: nothing of the audit history refers to a
membership, and the change log keeps its rows.

Removing a member also deletes the headless clients that acted as them; a suspension keeps
them, refused until the member is reactivated.

Reactivating gives the membership back and nothing else: revoked tokens stay revoked, and the
person signs in and asks for new ones.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from core import config_events
from core.errors import ValidationFailed
from identities import selectors
from identities.connector_channels import revoke_connections
from identities.inbound import tokens
from identities.inbound.client_access import names_workspace
from identities.models import ApiToken, Connector, UpstreamConnection, UpstreamCredential
from identities.upstream import revocation
from teams import services as team_services
from teams.changes import record_change
from teams.models import Membership

_DATABASE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)


def _forget_after_commit(keys: list[str]) -> None:
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


def _revoke_api_tokens(membership: Membership) -> int:
    # A SCIM token belongs to the workspace's identity provider; its `user` only records who
    # issued it, and removing that admin must not stop provisioning (it is revoked on its own).
    live = (
        ApiToken.objects.for_workspace(membership.workspace_id)
        .filter(user_id=membership.user_id, revoked_at__isnull=True)
        .exclude(kind=ApiToken.Kind.SCIM)
    )
    digests = list(live.values_list("digest", flat=True))
    # Their connectors stop serving now, not when they next sign in.
    revoke_connections(
        Connector.objects.for_workspace(membership.workspace_id).filter(
            token__in=live.filter(kind=ApiToken.Kind.CONNECTOR)
        )
    )
    revoked = live.update(revoked_at=timezone.now())
    _forget_after_commit([tokens.lookup_cache_key(d) for d in digests])
    return revoked


def _revoke_oauth(membership: Membership) -> dict[str, int]:
    """The person's OAuth tokens and authorization codes whose resource is one of the
    workspace's URLs; those of other workspaces are left alone."""
    scope = names_workspace(membership.workspace)
    access = get_access_token_model().objects.filter(user_id=membership.user_id).filter(scope)
    checksums = list(access.values_list("token_checksum", flat=True))
    refresh = get_refresh_token_model().objects.filter(
        user_id=membership.user_id, revoked__isnull=True, access_token__in=access
    )
    refresh_revoked = refresh.update(revoked=timezone.now())
    access.delete()
    grant_model = get_grant_model()
    # `delete` counts what cascades with a code too; only the codes themselves are reported.
    _, deleted = grant_model.objects.filter(user_id=membership.user_id).filter(scope).delete()
    grants = deleted.get(grant_model._meta.label, 0)
    _forget_after_commit([tokens.lookup_cache_key(c) for c in checksums if c])
    return {
        "oauth_access_tokens": len(checksums),
        "oauth_refresh_tokens": refresh_revoked,
        "oauth_grants": grants,
    }


def _revoke_upstream(membership: Membership) -> dict[str, int]:
    """The person's own upstream connections (revoked at the upstream's authorization server
    after the commit) and manual credentials in the workspace."""
    connections = list(
        UpstreamConnection.objects.for_workspace(membership.workspace_id)
        .filter(owner_id=membership.user_id)
        .select_related("assignment__oauth_client")
    )
    revocation.revoke_later(revocation.grants_of(connections))
    credentials = list(
        UpstreamCredential.objects.for_workspace(membership.workspace_id).filter(
            owner_id=membership.user_id
        )
    )
    keys = [selectors.connection_cache_key(c.assignment_id, c.owner_id) for c in connections]
    keys += [selectors.personal_cache_key(c.assignment_id, c.owner_id) for c in credentials]
    UpstreamConnection.objects.filter(pk__in=[c.pk for c in connections]).delete()
    UpstreamCredential.objects.filter(pk__in=[c.pk for c in credentials]).delete()
    _forget_after_commit(keys)
    return {"upstream_connections": len(connections), "upstream_credentials": len(credentials)}


def _end_console_sessions(membership: Membership) -> int:
    """End the person's console sessions when no other workspace still holds them as an active
    member. Otherwise they keep signing in to those, and every page of this workspace already
    answers 404 because each request looks the membership up again."""
    others = (
        Membership.objects.filter(user_id=membership.user_id)
        .exclude(workspace_id=membership.workspace_id)
        .exists()
    )
    if others:
        return 0
    if settings.SESSION_ENGINE not in _DATABASE_SESSION_ENGINES:
        return 0  # sessions kept elsewhere cannot be listed; the per-request check still refuses
    store = import_module(settings.SESSION_ENGINE).SessionStore
    user_id = str(membership.user_id)
    # Sessions are encoded blobs keyed by a random id: reading them is the only way to find whose.
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get("_auth_user_id") == user_id
    ]
    for key in ended:
        store(session_key=key).delete()  # a cached_db session leaves the cache too
    return len(ended)


def revoke_access(*, membership: Membership) -> dict[str, int]:
    """Revoke everything the person can call with in the membership's workspace; what was
    revoked, counted by kind. Call it inside the transaction that suspends or removes them."""
    revoked = {"api_tokens": _revoke_api_tokens(membership)}
    revoked.update(_revoke_oauth(membership))
    revoked.update(_revoke_upstream(membership))
    revoked["console_sessions"] = _end_console_sessions(membership)
    return revoked


@transaction.atomic
def suspend_member(*, membership: Membership, actor, detail: dict | None = None) -> Membership:
    """Suspend a membership and revoke the person's access in its workspace; a suspended one is
    left as it is."""
    if membership.role.key == "owner" and not (
        Membership.objects.for_workspace(membership.workspace_id)
        .filter(role__key="owner")
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise ValidationFailed("The last active owner of a workspace cannot be suspended.")
    # A conditional update claims the change, so two suspensions at once revoke and log once.
    if Membership.everyone.filter(pk=membership.pk, active=True).update(active=False):
        membership.active = False
        revoked = revoke_access(membership=membership)
        record_change(
            workspace=membership.workspace,
            actor=actor,
            action="member.suspend",
            target=membership,
            detail={**(detail or {}), "revoked": revoked},
        )
        config_events.workspace_changed(workspace_id=membership.workspace_id)
    return membership


@transaction.atomic
def reactivate_member(*, membership: Membership, actor, detail: dict | None = None) -> Membership:
    """Give a suspended membership its access back; an active one is left as it is. What was
    revoked stays revoked: the person is issued new tokens as anyone else is."""
    if Membership.everyone.filter(pk=membership.pk, active=False).update(active=True):
        membership.active = True
        record_change(
            workspace=membership.workspace,
            actor=actor,
            action="member.reactivate",
            target=membership,
            detail=detail,
        )
        config_events.workspace_changed(workspace_id=membership.workspace_id)
    return membership


@transaction.atomic
def remove_member_and_revoke(
    *, membership: Membership, actor, acting_member: Membership | None
) -> dict[str, int]:
    """Remove a member (`teams.services.remove_member`, with its checks) and revoke their
    access in the workspace in the same transaction; what was revoked, counted by kind."""
    revoked = revoke_access(membership=membership)
    # Their OAuth clients go with the row that named the member, and their tokens with them.
    applications = get_application_model()
    _, deleted = applications.objects.filter(headless__membership=membership).delete()
    revoked["headless_clients"] = deleted.get(applications._meta.label, 0)
    team_services.remove_member(
        membership=membership, actor=actor, acting_member=acting_member, detail={"revoked": revoked}
    )
    return revoked
