"""Writes of the identities app: API tokens, and the credentials presented to upstreams."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import config_events, crypto
from core.errors import Conflict, ValidationFailed
from identities import selectors
from identities.connector_channels import revoke_connections_of
from identities.inbound import tokens
from identities.models import ApiToken, UpstreamCredential, UpstreamOAuthClient
from identities.upstream import credential_shapes
from teams import api_access
from teams.capabilities import ALL_KEYS
from teams.changes import record_change
from teams.models import Membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _checked_scopes(kind, scopes, *, membership, gateway, minter_holds) -> list[str]:
    """The scopes of a new token, refused if they are unknown, on a kind that takes none, or
    more than its owner's role or its minter holds."""
    scopes = sorted(set(scopes or ()))
    if kind not in ApiToken.Kind.values:
        kinds = ", ".join(ApiToken.Kind.values)
        raise ValidationFailed(f"Unknown token kind '{kind}'; use one of {kinds}.", field="kind")
    if kind == ApiToken.Kind.CONNECTOR and gateway is not None:
        raise ValidationFailed(
            "A connector token serves workstation servers; only gateway tokens name a gateway.",
            field="gateway",
        )
    if kind != ApiToken.Kind.API:
        if scopes:
            raise ValidationFailed(
                f"Only api tokens carry scopes; a {kind} token takes none.", field="scopes"
            )
        return []
    if gateway is not None:
        raise ValidationFailed(
            "An api token is for the management API; only gateway tokens name a gateway.",
            field="gateway",
        )
    if not scopes:
        raise ValidationFailed(
            f"An api token needs at least one scope: '{api_access.READ}' or capability keys.",
            field="scopes",
        )
    unknown = [s for s in scopes if s != api_access.READ and s not in ALL_KEYS]
    if unknown:
        raise ValidationFailed(f"Unknown scope: {', '.join(unknown)}.", field="scopes")
    beyond_role = [s for s in scopes if s not in api_access.scopes_held(membership)]
    if beyond_role:
        raise ValidationFailed(
            f"The role of {membership.user.email} does not have: {', '.join(beyond_role)}.",
            field="scopes",
        )
    if minter_holds is not None:
        beyond_minter = [s for s in scopes if s not in minter_holds]
        if beyond_minter:
            raise ValidationFailed(
                "A token cannot carry scopes its issuer does not hold: "
                f"{', '.join(beyond_minter)}.",
                field="scopes",
            )
    return scopes


@transaction.atomic
def issue_token(
    *,
    membership: Membership,
    name: str,
    actor,
    kind: str = ApiToken.Kind.GATEWAY,
    scopes=(),
    gateway=None,
    expires_at=None,
    minter_holds: frozenset[str] | None = None,
) -> IssuedToken:
    """Create a token for a member; the secret is returned once and only its digest is kept.

    `minter_holds`: what whoever issues it holds (`teams.api_access.scopes_held`), when that is a
    person or a token rather than an operator at the command line."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A token needs a name.", field="name")
    # Read again under a row lock: a suspension committed since `membership` was read must
    # not be followed by a token issued to the suspended person.
    locked = Membership.everyone.select_for_update().filter(pk=membership.pk, active=True)
    if not membership.active or not locked.exists():
        raise ValidationFailed(f"{membership.user.email} is suspended in this workspace.")
    if gateway is not None and gateway.workspace_id != membership.workspace_id:
        raise ValidationFailed("Unknown gateway.", field="gateway")
    if (
        kind == ApiToken.Kind.CONNECTOR
        and minter_holds is not None
        and getattr(actor, "pk", None) != membership.user_id
    ):
        # Whoever holds a connector token receives its owner's workstation calls: a person
        # issues one only to themselves (an operator at the command line may name anyone).
        raise ValidationFailed(
            "A connector token is issued only to yourself: the person it names receives calls "
            "through it.",
            field="user",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    scopes = _checked_scopes(
        kind, scopes, membership=membership, gateway=gateway, minter_holds=minter_holds
    )
    secret = tokens.generate()
    token = ApiToken.objects.create(
        workspace_id=membership.workspace_id,
        user_id=membership.user_id,
        gateway=gateway,
        kind=kind,
        scopes=scopes,
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
        detail={
            "user": membership.user.email,
            "kind": kind,
            "scopes": scopes,
            "gateway": gateway.slug if gateway else None,
        },
    )
    return IssuedToken(token=token, secret=secret)


def issue_scim_token(*, membership: Membership, name: str, actor) -> IssuedToken:
    """A token for the workspace's SCIM endpoint, and nothing else; shown once.

    `membership` is who issued it: the token acts for the workspace's identity provider, not
    for that person, so it opens SCIM whatever their role becomes."""
    return issue_token(membership=membership, name=name, actor=actor, kind=ApiToken.Kind.SCIM)


@transaction.atomic
def revoke_token(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        # The data plane caches token lookups under this key; drop it so the next call is refused.
        digest = token.digest
        transaction.on_commit(lambda: cache.delete(f"tok:{digest}"))
        record_change(workspace=token.workspace, actor=actor, action="token.revoke", target=token)
        # A connector token's open sockets close now, not at their next sign-in.
        revoke_connections_of(token)
    return token


# -- upstream credentials ----------------------------------------------------------------------

SHARED_SCHEMES = ("service_account", "manual", "user_oauth")
PERSONAL_SCHEMES = ("manual",)
# A `user_oauth` assignment's shared credential is its pre-registered OAuth client, and only that.
_OAUTH_CLIENT_SCHEMES = ("user_oauth",)


def _changed(credential: UpstreamCredential) -> None:
    # Shared credentials are compiled into the gateway snapshots, so those are rebuilt; a
    # personal one is looked up through the cache, so only its entry is dropped.
    if credential.kind == credential_shapes.OAUTH_CLIENT:
        # The next connection starts over with the new client.
        UpstreamOAuthClient.objects.filter(assignment_id=credential.assignment_id).delete()
    if credential.owner_id is None:
        config_events.workspace_changed(workspace_id=credential.workspace_id)
    else:
        key = selectors.personal_cache_key(credential.assignment_id, credential.owner_id)
        transaction.on_commit(lambda: cache.delete(key))


def _audit_detail(credential: UpstreamCredential) -> dict:
    # Never the secret, nor its hint.
    return {
        "assignment": credential.assignment_id,
        "kind": credential.kind,
        "owner": credential.owner.email if credential.owner_id else None,
    }


@transaction.atomic
def set_credential(*, assignment, owner, data: dict, actor) -> tuple[UpstreamCredential, bool]:
    """Create or replace the shared credential (`owner=None`) or a person's own credential of an
    assignment. Returns the credential and whether it was created."""
    shared = owner is None
    scheme = assignment.identity_scheme
    allowed = SHARED_SCHEMES if shared else PERSONAL_SCHEMES
    if scheme not in allowed:
        what = "shared credential" if shared else "personal credential"
        raise ValidationFailed(
            f"The assignment's identity scheme is '{scheme}', which takes no {what} "
            f"(schemes that do: {', '.join(allowed)}).",
            field="shared",
        )
    if assignment.server.kind != "remote":
        # A managed or workstation server is a local process: it takes secrets through its env.
        raise ValidationFailed(
            f"The server '{assignment.server.name}' is a {assignment.server.kind} server, which "
            "receives no headers; give it its secrets through its environment (env) instead.",
            field="shared",
        )
    checked = credential_shapes.check(data, shared=shared)
    if (checked.kind == credential_shapes.OAUTH_CLIENT) != (scheme in _OAUTH_CLIENT_SCHEMES):
        raise ValidationFailed(
            "A user_oauth assignment takes an OAuth client (kind 'oauth_client') and no other "
            "shared credential; other schemes take no OAuth client.",
            field="kind",
        )
    credential = (
        UpstreamCredential.objects.for_workspace(assignment.workspace_id)
        .select_for_update()
        .filter(assignment=assignment, owner=owner)
        .first()
    )
    created = credential is None
    if created:
        credential = UpstreamCredential(
            workspace_id=assignment.workspace_id,
            assignment=assignment,
            owner=owner,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
    credential.kind = checked.kind
    credential.secret = crypto.encrypt(checked.payload)
    credential.details = checked.details
    credential.hint = checked.hint
    credential.disabled_at = None
    try:
        with transaction.atomic():
            credential.save()
    except IntegrityError as exc:
        # Another request created the same credential between the lookup and this insert.
        raise Conflict("The credential was set at the same time elsewhere; try again.") from exc
    _changed(credential)
    record_change(
        workspace=assignment.workspace,
        actor=actor,
        action="credential.set" if created else "credential.replace",
        target=credential,
        detail=_audit_detail(credential),
    )
    return credential, created


@transaction.atomic
def delete_credential(*, credential: UpstreamCredential, actor) -> None:
    detail = _audit_detail(credential)
    _changed(credential)
    record_change(
        workspace=credential.workspace,
        actor=actor,
        action="credential.delete",
        target=credential,
        detail=detail,
    )
    credential.delete()


@transaction.atomic
def set_credential_disabled(
    *, credential: UpstreamCredential, disabled: bool, actor
) -> UpstreamCredential:
    if (credential.disabled_at is not None) != disabled:
        credential.disabled_at = timezone.now() if disabled else None
        credential.save(update_fields=["disabled_at", "updated_at"])
        _changed(credential)
        record_change(
            workspace=credential.workspace,
            actor=actor,
            action="credential.disable" if disabled else "credential.enable",
            target=credential,
            detail=_audit_detail(credential),
        )
    return credential


@transaction.atomic
def rotate_credentials(*, workspace) -> tuple[int, list[int]]:
    """Re-encrypt every credential of `workspace` with the first configured key.

    Returns how many were re-encrypted and the ids no configured key opens (left unchanged).
    """
    rotated, unreadable = 0, []
    rows = UpstreamCredential.objects.for_workspace(workspace).select_for_update().order_by("pk")
    for credential in rows:
        try:
            secret = crypto.rotate(credential.secret)
        except crypto.UndecryptableSecret:
            unreadable.append(credential.pk)
            continue
        # update(): the plaintext is the same, so the version the data plane keys on stays.
        UpstreamCredential.objects.for_workspace(workspace).filter(pk=credential.pk).update(
            secret=secret
        )
        if credential.owner_id is not None:
            key = selectors.personal_cache_key(credential.assignment_id, credential.owner_id)
            transaction.on_commit(lambda key=key: cache.delete(key))
        rotated += 1
    if rotated:
        record_change(
            workspace=workspace,
            actor=None,
            action="credential.rotate_keys",
            target=workspace,
            detail={"rotated": rotated, "unreadable": unreadable},
        )
    return rotated, unreadable


def declare_shared_credential(*, assignment, data: dict, actor) -> str:
    """Make the assignment's shared credential what a configuration file declares.

    Returns "created", "changed" or "unchanged": the stored secret is decrypted and compared, so
    applying the same file twice writes nothing.
    """
    current = (
        UpstreamCredential.objects.for_workspace(assignment.workspace_id)
        .filter(assignment=assignment, owner__isnull=True)
        .first()
    )
    if current is not None and current.disabled_at is None and current.kind == data.get("kind"):
        checked = credential_shapes.check(data, shared=True)
        try:
            same = crypto.decrypt(current.secret) == checked.payload
        except crypto.UndecryptableSecret:
            same = False
        if same and current.details == checked.details:
            return "unchanged"
    _credential, created = set_credential(assignment=assignment, owner=None, data=data, actor=actor)
    return "created" if created else "changed"
