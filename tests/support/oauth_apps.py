"""OAuth client apps as a client's sign-in leaves them: an application holding an access token."""

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

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


def oauth_sign_in(user, app, resource: str) -> dict:
    """What a client's sign-in leaves for `user` at `resource`: an access token (its secret
    under "secret"), the refresh token issued with it, and a code not exchanged yet."""
    secret = credentials.new_access_token()
    access = AccessToken.objects.create(
        user=user,
        application=app,
        token=secret,
        token_checksum=tokens.digest(secret),
        expires=timezone.now() + timedelta(hours=1),
        scope="mcp",
        resource=[resource],
    )
    refresh = RefreshToken.objects.create(
        user=user, application=app, token=f"refresh-{access.pk}", access_token=access
    )
    grant = Grant.objects.create(
        user=user,
        application=app,
        code=f"code-{access.pk}",
        expires=timezone.now() + timedelta(minutes=5),
        redirect_uri="https://claude.ai/api/mcp/auth_callback",
        scope="mcp",
        resource=[resource],
    )
    return {"secret": secret, "access": access, "refresh": refresh, "grant": grant}
