"""Headless clients: the OAuth client credentials grant, for agents with no person at a browser.

An admin registers a confidential client that acts as one named member (`HeadlessClient`);
with its secret it asks the token endpoint for a gateway token (`grant_type=client_credentials`
and the gateway URL as `resource`) and gets the same `gto_` access token the consent flow
issues, held by that member. So the gateways, rules and audit trail are the member's, and
suspending them ends the client's tokens. A dedicated member for an agent is the way to give it
an identity of its own. Only clients registered here may use the grant.
"""

import secrets

from django.core.cache import cache
from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_application_model
from oauthlib.oauth2.rfc6749 import errors

from core.errors import ValidationFailed
from identities.inbound import tokens
from identities.inbound.oauth import resources
from identities.models import HeadlessClient
from teams.changes import record_change

SECRET_PREFIX = "gtc_"


def check_request(request) -> None:
    """oauthlib's post-token check of a client credentials request: the client is a headless
    client, and `resource` names one gateway of its workspace provisioned to its member."""
    headless = (
        HeadlessClient.objects.select_related("membership__user")
        .filter(application_id=request.client.pk)
        .first()
    )
    if headless is None:
        raise errors.UnauthorizedClientError(
            "This client is not registered for the client credentials grant.", request=request
        )
    requested = resources.requested_resources(request)
    gateway = resources.gateway_for_resource(requested[0]) if len(requested) == 1 else None
    if gateway is None or gateway.workspace_id != headless.workspace_id:
        raise errors.CustomOAuth2Error(
            error="invalid_target",
            description="Name one gateway URL of the client's workspace as the `resource`.",
            request=request,
        )
    membership = headless.membership
    if not membership.active or not membership.user.is_active:
        raise errors.InvalidGrantError("The client's member is suspended.", request=request)
    if not resources.may_use(membership.user, gateway):
        raise errors.CustomOAuth2Error(
            error="invalid_target",
            description="The gateway is not provisioned to the client's member.",
            request=request,
        )
    request.resource = requested
    request.headless_user = membership.user


def register_headless_client(*, workspace, membership, name: str, actor):
    """A new confidential client acting as `membership`; (the row, its secret, shown once)."""
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise ValidationFailed("Name the client (at most 255 characters).", field="name")
    if membership.workspace_id != workspace.pk:
        raise ValidationFailed("The member is not in this workspace.", field="member")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    application_model = get_application_model()
    with transaction.atomic():
        application = application_model.objects.create(
            name=name,
            client_type=application_model.CLIENT_CONFIDENTIAL,
            authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            redirect_uris="",
        )
        headless = HeadlessClient.objects.create(
            workspace=workspace, application=application, membership=membership, created_by=actor
        )
        record_change(
            workspace=workspace,
            actor=actor,
            action="headless_client.register",
            target=headless,
            detail={"client_id": application.client_id, "member": membership.user.email},
        )
    return headless, secret


def delete_headless_client(*, headless: HeadlessClient, actor) -> None:
    """The client and every token it was given, ended at once."""
    with transaction.atomic():
        issued = get_access_token_model().objects.filter(application_id=headless.application_id)
        keys = [tokens.lookup_cache_key(c) for c in issued.values_list("token_checksum", flat=True)]
        record_change(
            workspace=headless.workspace,
            actor=actor,
            action="headless_client.delete",
            target=headless,
            detail={"client_id": headless.application.client_id},
        )
        issued.delete()
        headless.application.delete()
        if keys:
            transaction.on_commit(lambda: cache.delete_many(keys))
