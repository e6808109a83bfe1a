"""Reads of the identities app."""

from django.db.models import Prefetch, Q
from django.utils import timezone

from gateways.selectors import assignments_usable_by, gateways_usable_by
from identities.inbound import tokens
from identities.models import ApiToken, UpstreamConnection, UpstreamCredential
from teams.capabilities import GATEWAYS_MANAGE, IDENTITIES_MANAGE, IDENTITIES_VIEW_ALL
from teams.scoping import get_scoped_or_404


def active_token(secret: str) -> ApiToken | None:
    """The live token matching `secret`, or None (malformed, unknown, revoked or expired)."""
    if not tokens.is_well_formed(secret):
        return None
    token = (
        ApiToken.objects.select_related("user", "workspace", "gateway")
        .filter(digest=tokens.digest(secret))
        .first()
    )
    if token is None or not token.is_active() or not token.user.is_active:
        return None
    return token


def tokens_visible_to(membership, *, see_all: bool):
    qs = ApiToken.objects.for_workspace(membership.workspace).select_related("user", "gateway")
    return qs if see_all else qs.filter(user_id=membership.user_id)


def access_token(membership, token_id, *, see_all: bool) -> ApiToken:
    return get_scoped_or_404(
        tokens_visible_to(membership, see_all=see_all), membership.workspace, pk=token_id
    )


def scim_tokens_of(workspace):
    """A workspace's SCIM tokens, live and revoked, newest first."""
    return (
        ApiToken.objects.for_workspace(workspace)
        .filter(kind=ApiToken.Kind.SCIM)
        .select_related("user")
        .order_by("-created_at", "-pk")
    )


def touch(token: ApiToken) -> None:
    # At most one write a minute per token keeps hot tokens off the write path.
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def gateway_for_token(membership, slug: str):
    """The gateway `slug` if the member may use it (so a token may be scoped to it), else None."""
    return gateways_usable_by(membership).filter(slug=slug).first()


# -- upstream credentials ----------------------------------------------------------------------


def access_usable_assignment(membership, gateway_slug: str, assignment_id):
    """An assignment on a gateway the member may use; any other is the same 404 as a missing one."""
    assignments = assignments_usable_by(membership).select_related("gateway", "server")
    return get_scoped_or_404(
        assignments.filter(gateway__slug=gateway_slug), membership.workspace, pk=assignment_id
    )


def credentials_visible_to(membership, assignment):
    """The member's own credential; the shared one to gateway managers; everyone's to identity
    admins (`identities.view_all` or `identities.manage`)."""
    qs = (
        UpstreamCredential.objects.for_workspace(membership.workspace)
        .filter(assignment=assignment)
        .select_related("owner", "assignment")
    )
    if membership.has(IDENTITIES_VIEW_ALL) or membership.has(IDENTITIES_MANAGE):
        return qs
    mine = Q(owner_id=membership.user_id)
    if membership.has(GATEWAYS_MANAGE):
        mine |= Q(owner__isnull=True)
    return qs.filter(mine)


def access_credential(membership, assignment, credential_id) -> UpstreamCredential:
    return get_scoped_or_404(
        credentials_visible_to(membership, assignment), membership.workspace, pk=credential_id
    )


def shared_credentials(workspace_id: int, assignment_ids) -> dict[int, UpstreamCredential]:
    """The enabled shared credential of each assignment, for compiling a gateway snapshot."""
    rows = UpstreamCredential.objects.for_workspace(workspace_id).filter(
        assignment_id__in=list(assignment_ids), owner__isnull=True, disabled_at__isnull=True
    )
    return {row.assignment_id: row for row in rows}


def personal_cache_key(assignment_id: int, user_id: int) -> str:
    """The data plane's cached lookup of one person's credential for one assignment; every
    change to that credential deletes it."""
    return f"upcred:{assignment_id}:{user_id}"


def personal_credential(
    workspace_id: int, assignment_id: int, user_id: int
) -> UpstreamCredential | None:
    return (
        UpstreamCredential.objects.for_workspace(workspace_id)
        .filter(assignment_id=assignment_id, owner_id=user_id, disabled_at__isnull=True)
        .first()
    )


# -- manual credentials, as the person sets their own --------------------------------------------


def manual_assignments_for(membership):
    """The `manual` assignments of remote servers on the gateways the member may use, each with
    the member's own credential (`mine`) and the enabled shared one (`shared`) prefetched (lists
    of at most one), for "My upstream connections"."""
    return (
        assignments_usable_by(membership)
        .filter(identity_scheme="manual", server__kind="remote")
        .select_related("gateway", "server")
        .prefetch_related(
            Prefetch(
                "credentials",
                queryset=UpstreamCredential.objects.filter(owner_id=membership.user_id),
                to_attr="mine",
            ),
            Prefetch(
                "credentials",
                queryset=UpstreamCredential.objects.filter(
                    owner__isnull=True, disabled_at__isnull=True
                ),
                to_attr="shared",
            ),
        )
        .order_by("gateway__name", "position", "id")
    )


def access_manual_assignment(membership, assignment_id):
    """A `manual` assignment the member may set their own credential for; any other is a 404."""
    return get_scoped_or_404(
        manual_assignments_for(membership), membership.workspace, pk=assignment_id
    )


# -- user_oauth connections ----------------------------------------------------------------------


def oauth_assignments_for(membership):
    """The `user_oauth` assignments on the gateways the member may use, each with the member's
    own connection prefetched (`mine`: a list of at most one), for "My upstream connections"."""
    return (
        assignments_usable_by(membership)
        .filter(identity_scheme="user_oauth")
        .select_related("gateway", "server")
        .prefetch_related(
            Prefetch(
                "connections",
                queryset=UpstreamConnection.objects.filter(owner_id=membership.user_id),
                to_attr="mine",
            )
        )
        .order_by("gateway__name", "position", "id")
    )


def access_oauth_assignment(membership, assignment_id):
    """A `user_oauth` assignment the member may connect to; any other is the same 404."""
    return get_scoped_or_404(
        oauth_assignments_for(membership), membership.workspace, pk=assignment_id
    )


def connection_cache_key(assignment_id: int, user_id: int) -> str:
    """The data plane's cached lookup of one person's connection for one assignment; every change
    to that connection deletes it."""
    return f"upconn:{assignment_id}:{user_id}"


def connection_of(workspace_id: int, assignment_id: int, user_id: int):
    return (
        UpstreamConnection.objects.for_workspace(workspace_id)
        .filter(assignment_id=assignment_id, owner_id=user_id)
        .first()
    )


def connections_due(before) -> list[int]:
    """Ids of connections whose access token expires before `before` (refreshed by beat)."""
    return list(
        UpstreamConnection.objects.filter(
            status=UpstreamConnection.Status.CONNECTED, expires_at__lt=before
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
