"""OAuth access tokens at a live gateway: bound to one gateway, refused once ended."""

import httpx
from django.utils import timezone
from oauth2_provider.models import AccessToken

from gateways import services as gateway_services
from identities.inbound import tokens
from identities.inbound.oauth import credentials


def initialize(deployment, token, url=None):
    return httpx.post(
        url or deployment.url,
        headers=deployment.headers(token),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        },
    )


def refused(response):
    return response.status_code == 401 and 'error="invalid_token"' in response.headers.get(
        "www-authenticate", ""
    )


def test_a_token_opens_its_gateway_and_no_other(deployment, bob, oauth_client, alice):
    other = gateway_services.create_gateway(
        workspace=deployment.acme, slug="ops", name="Operations", actor=alice
    )
    gateway_services.provision_teams(gateway=other, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=other, server=deployment.server, namespace="notes", actor=alice
    )
    access = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]

    assert initialize(deployment, access).status_code == 200
    response = initialize(deployment, access, url=f"{deployment.base}/mcp/acme/ops")
    assert refused(response)
    assert (
        "/.well-known/oauth-protected-resource/mcp/acme/ops"
        in (response.headers["www-authenticate"])
    )


def test_malformed_and_unknown_tokens_are_refused(deployment):
    for token in ("gto_nonsense", "not-a-token", credentials.new_access_token()):
        assert refused(initialize(deployment, token))


def test_an_expired_token_is_refused(deployment, bob, oauth_client):
    access = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]
    AccessToken.objects.filter(token_checksum=tokens.digest(access)).update(
        expires=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert refused(initialize(deployment, access))


def test_a_revoked_token_is_refused_on_the_next_request(deployment, bob, oauth_client):
    access = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]
    assert initialize(deployment, access).status_code == 200  # now cached by the gateway
    response = httpx.post(
        f"{deployment.base}/oauth/revoke/",
        data={"token": access, "client_id": oauth_client.client_id},
    )
    assert response.status_code == 200
    assert refused(initialize(deployment, access))


def test_revoking_the_refresh_token_ends_its_access_token(deployment, bob, oauth_client):
    issued = oauth_client.tokens_for(bob.email, deployment.url)
    assert initialize(deployment, issued["access_token"]).status_code == 200
    httpx.post(
        f"{deployment.base}/oauth/revoke/",
        data={
            "token": issued["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": oauth_client.client_id,
        },
    )
    assert refused(initialize(deployment, issued["access_token"]))
    again = oauth_client.token(grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert again.status_code == 400


def test_refreshing_rotates_both_tokens(deployment, bob, oauth_client):
    first = oauth_client.tokens_for(bob.email, deployment.url)
    assert initialize(deployment, first["access_token"]).status_code == 200
    response = oauth_client.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert initialize(deployment, second["access_token"]).status_code == 200
    # The old access token ends with the rotation.
    assert refused(initialize(deployment, first["access_token"]))
    # Replaying the spent refresh token is taken as theft: the whole family ends, at once.
    replay = oauth_client.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 400
    assert refused(initialize(deployment, second["access_token"]))


def test_a_person_no_longer_provisioned_gets_403(deployment, bob, alice, oauth_client):
    access = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]
    assert initialize(deployment, access).status_code == 200
    gateway_services.provision_teams(gateway=deployment.gateway, team_slugs=[], actor=alice)
    response = initialize(deployment, access)
    assert response.status_code == 403
    assert "not provisioned" in response.text
