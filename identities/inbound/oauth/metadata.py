"""Discovery documents: authorization server metadata (RFC 8414, also served as OpenID
discovery) and the protected resource metadata (RFC 9728) of each gateway URL and workspace URL.

A client that knows nothing but a gateway URL gets a 401 pointing at the gateway's resource
metadata, which names this platform as the authorization server; the server metadata then lists
every endpoint the client needs.
"""

import json

from django.http import JsonResponse
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import OAuthProtectedResourceMetadataView, OAuthServerMetadataView

from identities.inbound.oauth import id_jag, resources
from teams.models import Workspace


def issuer(request) -> str:
    """This platform's issuer identifier: OAUTH_ISSUER, or the origin the request came to."""
    return oauth2_settings.oauth2_authorization_server_issuer(request)


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    # Browser-based clients read discovery documents cross-origin.
    response["Access-Control-Allow-Origin"] = "*"
    return response


class AuthorizationServerMetadataView(OAuthServerMetadataView):
    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        # The base view derives the issuer from its own path; OpenID discovery has another one.
        data["issuer"] = issuer(request)
        data["code_challenge_methods_supported"] = ["S256"]
        data["authorization_response_iss_parameter_supported"] = True
        data["service_documentation"] = request.build_absolute_uri("/api/docs/")
        # Enterprise-Managed Authorization: ID-JAGs are accepted at the token endpoint.
        data["authorization_grant_profiles_supported"] = [id_jag.PROFILE]
        return _json(data)


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """`/.well-known/oauth-protected-resource/mcp/<workspace>/<gateway>`: one per gateway, and
    `/.well-known/oauth-protected-resource/mcp/<workspace>` for the workspace URL."""

    def get(self, request, workspace, gateway=None, *args, **kwargs):
        if gateway is None:
            found = Workspace.objects.filter(slug=workspace).first()
            what = "workspace"
        else:
            found = resources.gateway_named(workspace, gateway)
            what = "gateway"
        if found is None:
            return _json({"error": "not_found", "error_description": f"No such {what}."}, 404)
        data = {
            "resource": resources.resource_url(request, workspace, gateway),
            "authorization_servers": [issuer(request)],
            "scopes_supported": self.get_scopes_supported(),
            "bearer_methods_supported": ["header"],
            "resource_name": found.name,
        }
        return _json(data)
