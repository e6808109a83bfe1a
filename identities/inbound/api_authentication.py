"""DRF authentication by gateway API token (`Authorization: Bearer gth_...`)."""

from rest_framework import authentication, exceptions

from identities import selectors


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        token = selectors.active_token(secret.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        selectors.touch(token)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="gatehouse"'
