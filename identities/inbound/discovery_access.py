"""Who reads the discovery documents (the MCP catalog, the registry API), and which gateways
they may see there: exactly the gateways their token opens, by the provisioning rule of
`gateways/selectors.py`.

Three kinds of bearer token are read here. A gateway token sees its gateway, or, bound to none,
every gateway its owner may use; an OAuth access token sees the one gateway it was issued for;
an api token (any scope: listing is a read) sees every gateway its owner may use. A connector or
SCIM token is none of these and is refused like an unknown one. Bad tokens count against the
caller's address, as on the REST API, so none can be guessed here either.
"""

from dataclasses import dataclass

from core import rate_limiting
from gateways.selectors import gateways_usable_by
from identities import selectors
from identities.inbound.oauth import credentials as oauth_credentials
from identities.inbound.oauth import selectors as oauth_selectors
from identities.models import ApiToken
from teams.models import Membership

BAD_TOKEN_RATE = "30/minute"


@dataclass(frozen=True)
class Reader:
    """The member behind a token, and the one gateway the token is bound to (None: all the
    gateways the member may use)."""

    membership: Membership
    gateway_id: int | None


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    retry_after: int | None = None


def bearer_secret(request) -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def reader_of(request) -> Reader | Refusal | None:
    """The reader of this request; None when it sends no token."""
    secret = bearer_secret(request)
    if secret is None:
        return None
    address = rate_limiting.request_ip(request)
    if refusal := rate_limiting.over(BAD_TOKEN_RATE, "discovery", "bad-token", address):
        return Refusal(429, "Too many bad tokens from your address.", refusal.retry_after)
    found = _reader(secret)
    if found is None:
        rate_limiting.hit(BAD_TOKEN_RATE, "discovery", "bad-token", address)
        return Refusal(401, "Invalid, expired or revoked token.")
    return found


def _reader(secret: str) -> Reader | None:
    if oauth_credentials.is_access_token(secret):
        entry = oauth_selectors.access_token_entry(secret)
        if entry is None:
            return None
        return _member(entry["workspace_id"], entry["user_id"], entry["gateway_id"])
    token = selectors.active_token(secret)
    if token is None or token.kind not in (ApiToken.Kind.GATEWAY, ApiToken.Kind.API):
        return None
    # An api token is never bound to a gateway; every api token may read (teams/api_access.py).
    bound = token.gateway_id if token.kind == ApiToken.Kind.GATEWAY else None
    reader = _member(token.workspace_id, token.user_id, bound)
    if reader is not None:
        selectors.touch(token)
    return reader


def _member(workspace_id: int, user_id: int, gateway_id: int | None) -> Reader | None:
    membership = (
        Membership.objects.for_workspace(workspace_id)
        .select_related("workspace", "role")
        .filter(user_id=user_id)
        .first()
    )
    return Reader(membership, gateway_id) if membership else None


def gateways_seen_by(reader: Reader):
    """The gateways `reader` may see, by slug, all of the reader's workspace."""
    gateways = gateways_usable_by(reader.membership).order_by("slug")
    if reader.gateway_id is not None:
        gateways = gateways.filter(pk=reader.gateway_id)
    return gateways
