"""Who may use a workspace's SCIM endpoint: a live `scim` token of that workspace, and nothing
else. A token of another kind is refused (403); a SCIM token of another workspace gets the same
404 as a workspace that does not exist, so it confirms nothing about either."""

from dataclasses import dataclass

from core import rate_limiting
from identities import selectors
from identities.models import ApiToken
from teams.models import Workspace

# Wrong tokens count against the caller's address, as on the REST API, so none can be guessed.
BAD_TOKEN_RATE = "30/minute"


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    retry_after: int | None = None


def scim_caller(request, workspace_slug: str) -> tuple[Workspace, ApiToken] | Refusal:
    """The workspace and SCIM token of this request, or why it is refused."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    # The token is looked up first: bad tokens from an address must not lock out the identity
    # provider's valid one calling from the same address.
    token = selectors.active_token(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        address = rate_limiting.request_ip(request)
        if refusal := rate_limiting.over(BAD_TOKEN_RATE, "scim", "bad-token", address):
            return Refusal(429, "Too many bad tokens from your address.", refusal.retry_after)
        rate_limiting.hit(BAD_TOKEN_RATE, "scim", "bad-token", address)
        return Refusal(401, "A valid SCIM bearer token is required.")
    if token.kind != ApiToken.Kind.SCIM:
        return Refusal(403, f"This is a {token.kind} token; SCIM takes SCIM tokens only.")
    if token.workspace.slug != workspace_slug:
        return Refusal(404, "No such SCIM endpoint.")
    selectors.touch(token)
    return token.workspace, token
