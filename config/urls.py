"""URL map of the control plane. The MCP data plane is routed in config/asgi.py."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from audit import metrics_view
from config import views as site_views
from gateways import discovery_views
from identities.upstream import connection_console
from teams.sso import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view.scrape, name="metrics"),
    path("accounts/sso/", views.sign_in, name="sso-sign-in"),
    path("accounts/", include("allauth.urls")),
    # The OAuth authorization server: /oauth/... and the /.well-known/ discovery documents.
    path("", include("identities.inbound.oauth.urls")),
    # The platform as an OAuth client of upstreams: its client ID metadata document.
    path(
        "oauth/upstream-client",
        connection_console.ClientDocumentView.as_view(),
        name="upstream-client-document",
    ),
    path(
        "oauth/upstream-client/callback",
        connection_console.ClientDocumentCallbackView.as_view(),
        name="upstream-client-callback",
    ),
    # Discovery: the MCP catalog, and each workspace's registry (API v0.1) of its gateways.
    path(".well-known/mcp/catalog.json", discovery_views.catalog, name="mcp-catalog"),
    path(
        "registry/<slug:workspace>/v0.1/servers", discovery_views.servers, name="registry-servers"
    ),
    # A server name holds one slash, sent encoded (%2F) and decoded before routing.
    re_path(
        r"^registry/(?P<workspace>[-a-z0-9]+)/v0\.1/servers/(?P<server_name>[^/]+/[^/]+)/versions$",
        discovery_views.server_versions,
        name="registry-server-versions",
    ),
    re_path(
        r"^registry/(?P<workspace>[-a-z0-9]+)/v0\.1/servers/(?P<server_name>[^/]+/[^/]+)"
        r"/versions/(?P<version>[^/]+)$",
        discovery_views.server_version,
        name="registry-server-version",
    ),
    path("favicon.ico", site_views.favicon, name="favicon"),
    path("api/", site_views.api_index, name="api-index"),
    path("api/v1/", include("config.api_urls")),
    path("scim/v2/<slug:workspace>/", include("identities.scim.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("config.console_urls")),
]
