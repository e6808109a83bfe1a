"""Dynamic client registration (RFC 7591) at `/oauth/register`, open to anyone as MCP expects.

django-oauth-toolkit registers the client; this view completes its answer the way clients
expect it (RFC 7591 3.2.1): `client_id_issued_at`, `client_secret_expires_at` whenever a secret
is issued (0: it never expires), and every registered field echoed, `response_types` and
`scope` included. A client that asked for `client_secret_post` is told `client_secret_post` back
(the token endpoint accepts the secret in the body or in Basic alike), because some clients
refuse a registration whose answer differs from their request.
"""

import json

from django.http import JsonResponse
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import DynamicClientRegistrationView

RESPONSE_TYPES = ["code"]


def _refusal(description: str) -> JsonResponse:
    return JsonResponse(
        {"error": "invalid_client_metadata", "error_description": description}, status=400
    )


def _scope(asked) -> str:
    """The requested scopes this server knows; the others are dropped, as RFC 7591 allows."""
    if not isinstance(asked, str):
        return ""
    known = oauth2_settings.SCOPES
    return " ".join(s for s in dict.fromkeys(asked.split()) if s in known)


class RegistrationView(DynamicClientRegistrationView):
    def post(self, request, *args, **kwargs):
        try:
            asked = json.loads(request.body)
        except ValueError:
            asked = None
        asked = asked if isinstance(asked, dict) else {}
        response_types = asked.get("response_types", RESPONSE_TYPES)
        if not isinstance(response_types, list) or any(
            t not in RESPONSE_TYPES for t in response_types
        ):
            # Only the authorization code flow is served: a client wanting more would fail later.
            return _refusal('response_types may only contain "code"')
        if not isinstance(asked.get("client_name", ""), str):
            return _refusal("client_name must be a string")

        response = super().post(request, *args, **kwargs)
        if response.status_code != 201:
            return response
        data = json.loads(response.content)
        application = get_application_model().objects.get(client_id=data["client_id"])
        data["client_id_issued_at"] = int(application.created.timestamp())
        if "client_secret" in data:
            data["client_secret_expires_at"] = 0
        data["response_types"] = RESPONSE_TYPES
        scope = _scope(asked.get("scope"))
        if scope:
            data["scope"] = scope
        if asked.get("token_endpoint_auth_method") == "client_secret_post":
            data["token_endpoint_auth_method"] = "client_secret_post"
        return JsonResponse(data, status=201)
