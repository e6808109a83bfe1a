"""DRF authentication by API token (`Authorization: Bearer gth_...`).

Only tokens of kind `api` open the management API; a gateway token (the one pasted into MCP
client configurations), a connector or SCIM token is refused here, before any view runs, with a
403 that says which kind it is. An OAuth access token (`gto_`) is not an API token at all: 401.
What an api token may do once in is checked by teams/api_access.py.

Bad tokens count against the client's address at the API's `anonymous` throttle rate: past it,
the address is throttled before any token is looked up, so tokens cannot be guessed at speed.
"""

from rest_framework import authentication, exceptions
from rest_framework.settings import api_settings

from core import rate_limiting
from identities import selectors
from identities.models import ApiToken


def _throttled(refusal: rate_limiting.Refusal) -> exceptions.Throttled:
    return exceptions.Throttled(
        wait=refusal.retry_after,
        detail=f"Too many bad tokens from your address (limit {refusal.rate}).",
    )


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        rate = api_settings.DEFAULT_THROTTLE_RATES.get("anonymous")
        address = rate_limiting.request_ip(request)
        if rate and (refusal := rate_limiting.over(rate, "api", "bad-token", address)):
            raise _throttled(refusal)
        token = selectors.active_token(secret.strip())
        if token is None:
            if rate and (refusal := rate_limiting.hit(rate, "api", "bad-token", address)):
                raise _throttled(refusal)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if token.kind != ApiToken.Kind.API:
            raise exceptions.PermissionDenied(
                f"This is a {token.kind} token; the management API takes api tokens only."
            )
        selectors.touch(token)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="gatehouse"'
