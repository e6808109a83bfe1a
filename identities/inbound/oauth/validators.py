"""The authorization server's rules on top of django-oauth-toolkit's validator.

Only the authorization code grant (with PKCE, enforced by settings), refresh tokens, the
jwt-bearer grant of an ID-JAG (confidential clients; identities/inbound/oauth/id_jag.py) and
client credentials (headless clients only; identities/inbound/oauth/headless_clients.py) are
allowed, and every revocation or rotation drops the data plane's cached lookup of the access
token it ends, so an ended token is refused on the next request rather than after the cache TTL.
The gateway a person picks at consent for a workspace URL is kept with the grant, then with the
refresh token family the code exchange starts (identities.models.ChosenGateway).
"""

from django.core.cache import cache
from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from identities.inbound import tokens
from identities.inbound.oauth import id_jag
from identities.models import ChosenGateway

ALLOWED_GRANT_TYPES = {"authorization_code", "refresh_token", "client_credentials"}


def _forget(checksums) -> None:
    keys = [tokens.lookup_cache_key(c) for c in checksums if c]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


class GatewayValidator(OAuth2Validator):
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type == id_jag.GRANT_TYPE:
            # The assertion names the client; only one that authenticated may present it.
            return client.client_type == client.CLIENT_CONFIDENTIAL
        if grant_type not in ALLOWED_GRANT_TYPES:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        checksum = tokens.digest(token)
        # A refresh token's revocation also ends the access token it was issued with.
        ended = {checksum}
        ended.update(
            get_refresh_token_model()
            .objects.filter(token_checksum=checksum, access_token__isnull=False)
            .values_list("access_token__token_checksum", flat=True)
        )
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        _forget(ended)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        # Replaying a spent refresh token revokes its whole family (reuse protection), access
        # tokens included; their cached lookups go too. Only a revoked token can trigger it.
        family = (
            get_refresh_token_model()
            .objects.filter(token_checksum=tokens.digest(refresh_token), revoked__isnull=False)
            .values_list("token_family", flat=True)
            .first()
        )
        live = []
        if family:
            live = list(
                get_access_token_model()
                .objects.filter(refresh_token__token_family=family)
                .values_list("token_checksum", flat=True)
            )
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid:
            _forget(live)
        return valid

    def save_bearer_token(self, token, request, *args, **kwargs):
        previous = getattr(request, "refresh_token_instance", None)
        stale = None
        if previous is not None and previous.access_token_id:
            stale = (
                get_access_token_model()
                .objects.filter(pk=previous.access_token_id)
                .values_list("token_checksum", flat=True)
                .first()
            )
        result = super().save_bearer_token(token, request, *args, **kwargs)
        # Rotation ends the access token of the refresh token that was just used.
        _forget([stale])
        return result

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        if request.grant_type == "client_credentials":
            # django-oauth-toolkit issues these to no one; a headless client acts as its member
            # (set by headless_clients.check_request), as the data plane needs a person.
            request.user = request.headless_user
        return super()._create_access_token(expires, request, token, source_refresh_token)

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        grant = self._create_authorization_code(request, code)
        # Set by the consent view for a workspace URL, from the person's checked choice.
        gateway = getattr(request, "chosen_gateway", None)
        if gateway is not None:
            ChosenGateway.objects.create(
                workspace_id=gateway.workspace_id, gateway=gateway, grant=grant
            )

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        if valid:
            request.chosen_gateway_id = (
                ChosenGateway.objects.filter(grant__code=code, grant__application=client)
                .values_list("pk", flat=True)
                .first()
            )
        return valid

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous):
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous
        )
        chosen = getattr(request, "chosen_gateway_id", None)
        if previous is None and chosen is not None:
            # The code is spent: from now on the choice belongs to the family it started.
            ChosenGateway.objects.filter(pk=chosen).update(
                token_family=refresh_token.token_family, grant=None
            )
        return refresh_token
