"""OAuth client apps as a client's sign-in leaves them: an application holding an access token."""

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from identities.inbound import tokens
from identities.inbound.oauth import credentials


def oauth_app(user, *, name="Claude", resource="http://testserver/mcp/acme/dev"):
    """An OAuth client app holding a token of `user` for `resource`."""
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://claude.ai/api/mcp/auth_callback",
    )
    secret = credentials.new_access_token()
    AccessToken.objects.create(
        user=user,
        application=app,
        token=secret,
        token_checksum=tokens.digest(secret),
        expires=timezone.now() + timedelta(hours=1),
        scope="mcp",
        resource=[resource],
    )
    return app
