"""Writes of the identities app: issuing and revoking API tokens."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.services import record_change
from identities import tokens
from identities.models import ApiToken
from teams.errors import ValidationFailed
from teams.models import Membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


@transaction.atomic
def issue_token(
    *, membership: Membership, name: str, actor, gateway=None, expires_at=None
) -> IssuedToken:
    """Create a token for a member; the secret is returned once and only its digest is kept."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A token needs a name.", field="name")
    if gateway is not None and gateway.workspace_id != membership.workspace_id:
        raise ValidationFailed("Unknown gateway.", field="gateway")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    secret = tokens.generate()
    token = ApiToken.objects.create(
        workspace_id=membership.workspace_id,
        user_id=membership.user_id,
        gateway=gateway,
        name=name[:120],
        prefix=tokens.display_prefix(secret),
        digest=tokens.digest(secret),
        expires_at=expires_at,
    )
    record_change(
        workspace=membership.workspace,
        actor=actor,
        action="token.issue",
        target=token,
        detail={"user": membership.user.email, "gateway": gateway.slug if gateway else None},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def revoke_token(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        # The data plane caches token lookups under this key; drop it so the next call is refused.
        digest = token.digest
        transaction.on_commit(lambda: cache.delete(f"tok:{digest}"))
        record_change(workspace=token.workspace, actor=actor, action="token.revoke", target=token)
    return token
