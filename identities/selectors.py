"""Reads of the identities app."""

from django.utils import timezone

from identities import tokens
from identities.models import ApiToken
from teams.capabilities import GATEWAYS_USE_ALL
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


def touch(token: ApiToken) -> None:
    # At most one write a minute per token keeps hot tokens off the write path.
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def gateway_for_token(membership, slug: str):
    """The gateway `slug` if the member may use it (so a token may be scoped to it), else None.

    The same rule as `gateways.selectors.gateways_visible_to`, reached through the token's
    foreign key so identities does not import gateways (gateways depends on identities).
    """
    gateway_model = ApiToken._meta.get_field("gateway").related_model
    gateways = gateway_model.objects.for_workspace(membership.workspace).filter(slug=slug)
    if not membership.has(GATEWAYS_USE_ALL):
        gateways = gateways.filter(teams__memberships=membership)
    return gateways.distinct().first()
