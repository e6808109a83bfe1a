"""The token endpoint's grants: oauthlib's server, plus the RFC 7523 jwt-bearer grant that
exchanges an ID-JAG (identities/inbound/oauth/id_jag.py) for a gateway token, and the client
credentials grant held to headless clients (identities/inbound/oauth/headless_clients.py).

The grant issues the same `gto_` access token the consent flow issues, bound to one gateway
URL and held by the member the assertion names, so the data plane accepts it unchanged. No
refresh token: the client exchanges a fresh assertion instead, so the identity provider stays
the place where access is decided and ended. Every refusal is an RFC 6749 error document.
"""

import json
from contextvars import ContextVar

from oauth2_provider.views import TokenView
from oauthlib.oauth2 import Server
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase

from identities.inbound.oauth import headless_clients, id_jag, metadata, resources

# The issuer identifier of the request being answered: the `aud` an assertion must carry.
current_issuer: ContextVar[str] = ContextVar("current_issuer", default="")


class IdJagGrant(GrantTypeBase):
    def create_token_response(self, request, token_handler):
        headers = self._get_default_headers()
        try:
            self.validate_token_request(request)
        except errors.OAuth2Error as e:
            headers.update(e.headers)
            return headers, e.json, e.status_code
        token = token_handler.create_token(request, refresh_token=False)
        for modifier in self._token_modifiers:
            token = modifier(token)
        self.request_validator.save_token(token, request)
        return headers, json.dumps(token), 200

    def validate_token_request(self, request):
        for param in ("grant_type", "assertion", "scope"):
            if param in request.duplicate_params:
                raise errors.InvalidRequestError(f"Duplicate {param} parameter.", request=request)
        assertion = dict(request.decoded_body or []).get("assertion")
        if not assertion:
            raise errors.InvalidRequestError("The assertion parameter is missing.", request=request)
        # RFC 7523 allows unauthenticated clients; ID-JAG binds the assertion to a client, so
        # that client must prove who it is.
        self.validate_client_confidential(request)
        self.validate_grant_type(request)
        try:
            grant = id_jag.check_assertion(
                assertion=assertion,
                client_id=request.client.client_id,
                requested=resources.requested_resources(request),
                issuer=current_issuer.get(),
            )
        except id_jag.AssertionRefused as refused:
            raise errors.CustomOAuth2Error(
                error=refused.error, description=refused.description, request=request
            ) from refused
        request.user = grant.membership.user
        request.resource = [grant.resource]
        self.validate_scopes(request)


class GatewayServer(Server):
    """oauthlib's server with the jwt-bearer grant added (OAUTH2_SERVER_CLASS)."""

    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self._grant_types[id_jag.GRANT_TYPE] = IdJagGrant(request_validator)
        self.credentials_grant.custom_validators.post_token.append(headless_clients.check_request)


class GatewayTokenView(TokenView):
    def post(self, request, *args, **kwargs):
        token = current_issuer.set(metadata.issuer(request))
        try:
            return super().post(request, *args, **kwargs)
        finally:
            current_issuer.reset(token)
