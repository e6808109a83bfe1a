"""Dynamic client registration (RFC 7591) at `/oauth/register`, open to anyone as MCP expects.

django-oauth-toolkit registers the client; this view only tolerates a known client quirk: a
client that asked for `client_secret_post` is told `client_secret_post` back (the token endpoint
accepts the secret in the body or in Basic alike), because some clients refuse a registration
whose answer differs from their request.
"""

import json

from django.http import JsonResponse
from oauth2_provider.views import DynamicClientRegistrationView


class RegistrationView(DynamicClientRegistrationView):
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code != 201:
            return response
        try:
            asked = json.loads(request.body).get("token_endpoint_auth_method")
        except (ValueError, AttributeError):
            asked = None
        if asked != "client_secret_post":
            return response
        data = json.loads(response.content)
        data["token_endpoint_auth_method"] = "client_secret_post"
        return JsonResponse(data, status=201)
