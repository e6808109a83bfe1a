"""A workspace's trusted enterprise identity providers, whose ID-JAGs the authorization server
exchanges for gateway tokens (identities/inbound/oauth/id_jag.py): each write checked and
recorded in the change log."""

from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationFailed
from identities.models import TrustedIdp
from teams.changes import record_change
from teams.sso.fetch import check_fetch_url


def _issuer(value: str) -> str:
    # Compared with the assertion's `iss` exactly, so it is kept as given.
    issuer = (value or "").strip()
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(issuer) > 500:
        raise ValidationFailed("The issuer must be the identity provider's URL.", field="issuer")
    return issuer


def _fields(issuer, jwks_url, audience) -> dict:
    audience = (audience or "").strip()
    if len(audience) > 500:
        raise ValidationFailed("The audience is at most 500 characters.", field="audience")
    return {
        "issuer": _issuer(issuer),
        "jwks_url": check_fetch_url(jwks_url, field="jwks_url", what="The JWKS URL"),
        "audience": audience,
    }


def _save(idp: TrustedIdp) -> TrustedIdp:
    try:
        with transaction.atomic():
            idp.save()
    except IntegrityError as exc:
        raise Conflict("This issuer is already trusted by the workspace.") from exc
    return idp


def _detail(idp: TrustedIdp) -> dict:
    return {
        "issuer": idp.issuer,
        "jwks_url": idp.jwks_url,
        "audience": idp.audience,
        "enabled": idp.enabled,
    }


def trust_idp(*, workspace, issuer: str, jwks_url: str, audience: str = "", actor) -> TrustedIdp:
    with transaction.atomic():
        idp = _save(
            TrustedIdp(workspace=workspace, created_by=actor, **_fields(issuer, jwks_url, audience))
        )
        record_change(
            workspace=workspace,
            actor=actor,
            action="trusted_idp.create",
            target=idp,
            detail=_detail(idp),
        )
    return idp


def update_trusted_idp(
    *, idp: TrustedIdp, issuer: str, jwks_url: str, audience: str, enabled: bool, actor
) -> TrustedIdp:
    for field, value in _fields(issuer, jwks_url, audience).items():
        setattr(idp, field, value)
    idp.enabled = bool(enabled)
    with transaction.atomic():
        _save(idp)
        record_change(
            workspace=idp.workspace,
            actor=actor,
            action="trusted_idp.update",
            target=idp,
            detail=_detail(idp),
        )
    return idp


def distrust_idp(*, idp: TrustedIdp, actor) -> None:
    """Its assertions are refused from now on; tokens already issued live out their time."""
    with transaction.atomic():
        record_change(
            workspace=idp.workspace,
            actor=actor,
            action="trusted_idp.delete",
            target=idp,
            detail=_detail(idp),
        )
        idp.delete()
