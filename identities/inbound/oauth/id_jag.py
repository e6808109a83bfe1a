"""Enterprise-Managed Authorization: an ID-JAG (Identity Assertion JWT Authorization Grant,
`typ` `oauth-id-jag+jwt`) exchanged for a gateway token through the RFC 7523 jwt-bearer grant.

An enterprise identity provider the workspace trusts (`TrustedIdp`) signs the assertion for one
person, one client and one resource; this module checks it before any token is issued: the
`typ`, the resource (a gateway URL of this platform, and the one the request names), the
issuer (trusted by that gateway's workspace), the signature (the issuer's JWKS), `aud` (the
provider's configured audience, or this platform's issuer), `exp` and `iat`, the `client_id`
(the client that authenticated at the token endpoint), `jti` (never accepted twice while the
assertion lives), then the person: the member the subject is linked to by the workspace's
single sign-on with the same issuer, else the member with the assertion's `email` (unless
`email_verified` is false). A person who is not a member, is suspended, or is not provisioned
to the gateway gets no token.
"""

import hashlib
import time
from dataclasses import dataclass

import jwt
from allauth.socialaccount.models import SocialAccount
from django.core.cache import cache

from identities.inbound.oauth import jwks, resources
from identities.models import TrustedIdp
from teams.models import Membership, User, WorkspaceSso

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"
TYP = "oauth-id-jag+jwt"
# Asymmetric algorithms only: the identity provider's public keys must not double as secrets.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]
LEEWAY_SECONDS = 30


class AssertionRefused(Exception):
    """The grant is refused; `error` is the RFC 6749 error code the token endpoint answers."""

    def __init__(self, description: str, error: str = "invalid_grant"):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Grant:
    """What a checked assertion vouches for: a member, and the gateway URL the token opens."""

    membership: Membership
    resource: str
    claims: dict


def _unverified(assertion: str) -> tuple[dict, dict]:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AssertionRefused("The assertion is not a well-formed JWT.") from exc
    if str(header.get("typ", "")).lower() != TYP:
        raise AssertionRefused(f"The assertion is not an ID-JAG (its typ must be {TYP}).")
    if header.get("alg") not in ALGORITHMS:
        raise AssertionRefused("The assertion's signing algorithm is not accepted.")
    return header, claims


def _target(claims: dict, requested: list[str]):
    resource = claims.get("resource")
    if not isinstance(resource, str):
        raise AssertionRefused("The assertion names no `resource`.", "invalid_target")
    if requested and requested != [resource]:
        raise AssertionRefused(
            "The `resource` asked for is not the one the assertion was issued for.",
            "invalid_target",
        )
    gateway = resources.gateway_for_resource(resource)
    if gateway is None:
        raise AssertionRefused(
            "The assertion's resource is not a gateway URL of this platform.", "invalid_target"
        )
    return gateway, resource


def _verified(assertion: str, header: dict, idp: TrustedIdp, audience: str) -> dict:
    try:
        key = jwks.signing_key(idp.jwks_url, header.get("kid"))
    except jwks.KeysUnavailable as exc:
        raise AssertionRefused(str(exc)) from exc
    try:
        return jwt.decode(
            assertion,
            key,
            algorithms=[header["alg"]],
            audience=audience,
            issuer=idp.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AssertionRefused("The assertion has expired.") from exc
    except jwt.InvalidAudienceError as exc:
        raise AssertionRefused(f"The assertion is not addressed to {audience}.") from exc
    except jwt.InvalidSignatureError as exc:
        raise AssertionRefused("The assertion's signature does not verify.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AssertionRefused(f"The assertion lacks the `{exc.claim}` claim.") from exc
    except jwt.PyJWTError as exc:
        raise AssertionRefused(f"The assertion is not valid: {exc}.") from exc


def _spend(idp: TrustedIdp, claims: dict) -> None:
    """Remember the `jti` until the assertion expires; a second use is refused."""
    digest = hashlib.sha256(str(claims["jti"]).encode()).hexdigest()
    lifetime = int(claims["exp"] - time.time()) + LEEWAY_SECONDS
    if not cache.add(f"idjag:jti:{idp.pk}:{digest}", 1, max(lifetime, 1)):
        raise AssertionRefused("The assertion has been used already.")


def _linked_user_id(idp: TrustedIdp, subject: str):
    """The person whose single sign-on account at the same issuer has this subject."""
    sso = WorkspaceSso.objects.filter(
        workspace_id=idp.workspace_id, enabled=True, protocol=WorkspaceSso.OIDC
    ).first()
    if sso is None or sso.issuer.rstrip("/") != idp.issuer.rstrip("/"):
        return None
    return (
        SocialAccount.objects.filter(provider=sso.provider_id, uid=subject)
        .values_list("user_id", flat=True)
        .first()
    )


def _member(idp: TrustedIdp, claims: dict) -> Membership:
    user_id = _linked_user_id(idp, str(claims["sub"]))
    email = claims.get("email")
    # An address the provider itself says it has not verified names nobody.
    verified = claims.get("email_verified") not in (False, "false")
    if user_id is None and verified and isinstance(email, str) and email.strip():
        user_id = (
            User.objects.filter(email__iexact=email.strip()).values_list("pk", flat=True).first()
        )
    membership = (
        Membership.everyone.for_workspace(idp.workspace_id)
        .select_related("user", "role")
        .filter(user_id=user_id)
        .first()
        if user_id is not None
        else None
    )
    if membership is None:
        raise AssertionRefused("The assertion's subject is not a member of the workspace.")
    if not membership.active or not membership.user.is_active:
        raise AssertionRefused("The assertion's subject is suspended in the workspace.")
    return membership


def check_assertion(*, assertion: str, client_id: str, requested: list[str], issuer: str) -> Grant:
    """The member and gateway URL `assertion` vouches for, for the authenticated `client_id`
    at the authorization server `issuer`; AssertionRefused with the reason otherwise."""
    header, unverified = _unverified(assertion)
    gateway, resource = _target(unverified, requested)
    issued_by = unverified.get("iss")
    idp = (
        TrustedIdp.objects.for_workspace(gateway.workspace_id)
        .filter(issuer=issued_by, enabled=True)
        .first()
        if isinstance(issued_by, str)
        else None
    )
    if idp is None:
        raise AssertionRefused("The assertion's issuer is not trusted by the gateway's workspace.")
    claims = _verified(assertion, header, idp, idp.audience or issuer)
    if claims["client_id"] != client_id:
        raise AssertionRefused("The assertion was issued to another client.")
    membership = _member(idp, claims)
    _spend(idp, claims)
    if not resources.may_use(membership.user, gateway):
        raise AssertionRefused(
            "The gateway is not provisioned to the assertion's subject.", "invalid_target"
        )
    return Grant(membership=membership, resource=resource, claims=claims)
