"""Routes of the authorization server, at the site root.

The namespace is django-oauth-toolkit's own, because its views and metadata reverse their
sibling endpoints by these names.
"""

from django.urls import path
from oauth2_provider.views import (
    DynamicClientRegistrationManagementView,
    RevokeTokenView,
)

from identities.inbound.oauth.consent import ConsentView
from identities.inbound.oauth.metadata import (
    AuthorizationServerMetadataView,
    ProtectedResourceMetadataView,
)
from identities.inbound.oauth.registration import RegistrationView
from identities.inbound.oauth.server import GatewayTokenView
from identities.inbound.oauth.throttling import limited_per_address

app_name = "oauth2_provider"

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server",
        AuthorizationServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/openid-configuration",
        AuthorizationServerMetadataView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp/<slug:workspace>/<slug:gateway>",
        ProtectedResourceMetadataView.as_view(),
        name="gateway-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp/<slug:workspace>",
        ProtectedResourceMetadataView.as_view(),
        name="workspace-resource-metadata",
    ),
    path(
        "oauth/authorize/",
        limited_per_address("RATE_LIMIT_OAUTH_AUTHORIZE", "authorization")(ConsentView.as_view()),
        name="authorize",
    ),
    path(
        "oauth/token/",
        limited_per_address("RATE_LIMIT_OAUTH_TOKEN", "token")(GatewayTokenView.as_view()),
        name="token",
    ),
    path("oauth/revoke/", RevokeTokenView.as_view(), name="revoke-token"),
    path(
        "oauth/register",
        limited_per_address("RATE_LIMIT_OAUTH_REGISTER", "registration")(
            RegistrationView.as_view()
        ),
        name="dcr-register",
    ),
    path(
        "oauth/register/<str:client_id>",
        DynamicClientRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]
