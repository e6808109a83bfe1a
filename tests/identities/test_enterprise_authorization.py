"""Enterprise-Managed Authorization: an ID-JAG from a trusted enterprise identity provider
(tests/identities/enterprise_idp.py, on a real socket) becomes a gateway token at the token
endpoint, which a real MCP SDK client then uses; every refusal is an RFC 6749 error."""

import asyncio
import json
import time

import httpx
import httpx2
import jwt
import pytest
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from identities import offboarding
from identities.inbound.oauth import trusted_idps
from teams.models import Membership, WorkspaceSso
from tests.identities.enterprise_idp import EnterpriseIdp
from tests.identities.sdk_oauth import MemoryStorage
from tests.support.live import ThreadedServer

# Generous: the token endpoint hashes secrets, and the machine may be busy.
TIMEOUT = 60

ISSUER = "https://idp.acme.test"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def idp_server():
    idp = EnterpriseIdp()
    server = ThreadedServer(idp.app).start()
    idp.issuer, idp.jwks_url = ISSUER, f"{server.url}/jwks"
    yield idp
    server.stop()


@pytest.fixture
def idp(idp_server, deployment, settings):
    # The test identity provider listens on loopback.
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True
    idp_server.trusted = trusted_idps.trust_idp(
        workspace=deployment.acme,
        issuer=ISSUER,
        jwks_url=idp_server.jwks_url,
        actor=deployment.alice,
    )
    return idp_server


def confidential_client(name="Agent app"):
    secret = "secret-" + name.replace(" ", "-")
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8976/callback",
        client_secret=secret,
    )
    return app.client_id, secret


@pytest.fixture
def client():
    return confidential_client()


def exchange(deployment, client, assertion, **extra):
    client_id, secret = client
    data = {
        "grant_type": GRANT,
        "assertion": assertion,
        "client_id": client_id,
        "client_secret": secret,
        "resource": deployment.url,
        **extra,
    }
    return httpx.post(f"{deployment.base}/oauth/token/", data=data, timeout=TIMEOUT)


def assertion_for(deployment, idp, client, email="bob@acme.test", **claims):
    return idp.id_jag(
        audience=deployment.base,
        resource=deployment.url,
        client_id=client[0],
        email=email,
        **claims,
    )


def test_the_sdk_exchanges_an_id_jag_and_calls_a_tool(deployment, idp, client, bob):
    asked = []

    async def fetch_id_jag(audience, resource):
        asked.append((audience, resource))
        return idp.id_jag(
            audience=audience, resource=resource, client_id=client[0], email=bob.email
        )

    provider = IdentityAssertionOAuthProvider(
        server_url=deployment.url,
        storage=MemoryStorage(),
        client_id=client[0],
        client_secret=client[1],
        issuer=deployment.base,
        assertion_provider=fetch_id_jag,
    )

    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        async with Client(
            streamable_http_client(deployment.url, http_client=http), mode="legacy", cache=None
        ) as mcp:
            return await mcp.call_tool("notes__echo", {"text": "hello from the enterprise"})

    echo = asyncio.run(scenario())
    assert echo.content[0].text == "hello from the enterprise"
    assert asked == [(deployment.base, deployment.url)]
    token = AccessToken.objects.get(application__client_id=client[0])
    assert token.user == bob and token.resource == [deployment.url]
    # No refresh token: the client exchanges a fresh assertion instead.
    assert not RefreshToken.objects.filter(application__client_id=client[0]).exists()


def test_the_token_is_a_gateway_token(deployment, idp, client):
    response = exchange(deployment, client, assertion_for(deployment, idp, client))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("gto_") and "refresh_token" not in body
    assert body["token_type"] == "Bearer" and body["scope"] == "mcp"
    assert deployment.initialize(body["access_token"])


def test_the_metadata_advertises_the_grant(deployment):
    metadata = httpx.get(
        f"{deployment.base}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    ).json()
    assert GRANT in metadata["grant_types_supported"]
    assert "client_credentials" in metadata["grant_types_supported"]
    assert metadata["authorization_grant_profiles_supported"] == [
        "urn:ietf:params:oauth:grant-profile:id-jag"
    ]


def test_a_subject_maps_to_a_member_by_single_sign_on(deployment, idp, client, bob):
    sso = WorkspaceSso.objects.create(workspace=deployment.acme, issuer=ISSUER, client_id="x")
    SocialAccount.objects.create(provider=sso.provider_id, uid="sub-of-bob", user=bob)
    assertion = assertion_for(deployment, idp, client, email=None, sub="sub-of-bob")
    response = exchange(deployment, client, assertion)
    assert response.status_code == 200, response.text
    assert AccessToken.objects.get(application__client_id=client[0]).user == bob


def _refused(response, error, words, status=400, keep=False):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert words in body.get("error_description", ""), body
    if not keep:
        assert not AccessToken.objects.exists()


def test_a_bad_signature_is_refused(deployment, idp, client):

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assertion = assertion_for(deployment, idp, client, key=forger)
    _refused(exchange(deployment, client, assertion), "invalid_grant", "signature")


def test_another_audience_is_refused(deployment, idp, client):
    assertion = idp.id_jag(
        audience="https://other-as.test",
        resource=deployment.url,
        client_id=client[0],
        email="bob@acme.test",
    )
    _refused(exchange(deployment, client, assertion), "invalid_grant", "not addressed")


def test_the_configured_audience_is_required(deployment, idp, client):
    trusted_idps.update_trusted_idp(
        idp=idp.trusted,
        issuer=ISSUER,
        jwks_url=idp.jwks_url,
        audience="urn:gatehouse",
        enabled=True,
        actor=deployment.alice,
    )
    _refused(
        exchange(deployment, client, assertion_for(deployment, idp, client)),
        "invalid_grant",
        "urn:gatehouse",
    )
    assertion = idp.id_jag(
        audience="urn:gatehouse",
        resource=deployment.url,
        client_id=client[0],
        email="bob@acme.test",
    )
    assert exchange(deployment, client, assertion).status_code == 200


def test_an_expired_assertion_is_refused(deployment, idp, client):
    now = int(time.time())
    assertion = assertion_for(deployment, idp, client, iat=now - 900, exp=now - 600)
    _refused(exchange(deployment, client, assertion), "invalid_grant", "expired")


def test_a_replayed_assertion_is_refused(deployment, idp, client):
    assertion = assertion_for(deployment, idp, client)
    assert exchange(deployment, client, assertion).status_code == 200
    AccessToken.objects.all().delete()
    _refused(exchange(deployment, client, assertion), "invalid_grant", "used already")


def test_an_assertion_without_a_jti_is_refused(deployment, idp, client):
    assertion = assertion_for(deployment, idp, client, jti=None)
    _refused(exchange(deployment, client, assertion), "invalid_grant", "jti")


def test_an_unknown_issuer_is_refused(deployment, idp, client):
    assertion = assertion_for(deployment, idp, client, iss="https://idp.globex.test")
    _refused(exchange(deployment, client, assertion), "invalid_grant", "not trusted")


def test_a_disabled_issuer_is_refused(deployment, idp, client):
    trusted_idps.update_trusted_idp(
        idp=idp.trusted,
        issuer=ISSUER,
        jwks_url=idp.jwks_url,
        audience="",
        enabled=False,
        actor=deployment.alice,
    )
    _refused(
        exchange(deployment, client, assertion_for(deployment, idp, client)),
        "invalid_grant",
        "not trusted",
    )


def test_an_issuer_trusted_by_another_workspace_is_refused(deployment, idp, client, globex):
    idp.trusted.delete()
    trusted_idps.trust_idp(workspace=globex, issuer=ISSUER, jwks_url=idp.jwks_url, actor=None)
    _refused(
        exchange(deployment, client, assertion_for(deployment, idp, client)),
        "invalid_grant",
        "not trusted",
    )


def test_a_jwt_that_is_not_an_id_jag_is_refused(deployment, idp, client):
    assertion = assertion_for(deployment, idp, client, typ="JWT")
    _refused(exchange(deployment, client, assertion), "invalid_grant", "not an ID-JAG")
    _refused(exchange(deployment, client, "not-a-jwt"), "invalid_grant", "well-formed")


def test_another_resource_is_refused(deployment, idp, client):
    elsewhere = f"{deployment.base}/mcp/acme/nonexistent"
    assertion = idp.id_jag(
        audience=deployment.base, resource=elsewhere, client_id=client[0], email="bob@acme.test"
    )
    _refused(
        exchange(deployment, client, assertion, resource=elsewhere),
        "invalid_target",
        "not a gateway URL",
    )
    # The request may not name another resource than the assertion does.
    assertion = assertion_for(deployment, idp, client)
    _refused(
        exchange(deployment, client, assertion, resource=elsewhere), "invalid_target", "not the one"
    )


def test_an_unknown_client_is_refused(deployment, idp, client):
    assertion = assertion_for(deployment, idp, client)
    _refused(
        exchange(deployment, (client[0], "wrong-secret"), assertion),
        "invalid_client",
        "",
        status=401,
    )
    _refused(
        exchange(deployment, ("no-such-client", "x"), assertion), "invalid_client", "", status=401
    )


def test_an_assertion_for_another_client_is_refused(deployment, idp, client):
    other = confidential_client("Other app")
    assertion = assertion_for(deployment, idp, other)
    _refused(exchange(deployment, client, assertion), "invalid_grant", "another client")


def test_a_subject_that_is_no_member_is_refused(deployment, idp, client, mallory):
    for email in ("nobody@acme.test", mallory.email):
        assertion = assertion_for(deployment, idp, client, email=email)
        _refused(exchange(deployment, client, assertion), "invalid_grant", "not a member")


def test_an_address_the_provider_has_not_verified_maps_to_nobody(deployment, idp, client, bob):
    for unverified in (False, "false"):
        assertion = assertion_for(deployment, idp, client, email_verified=unverified)
        _refused(exchange(deployment, client, assertion), "invalid_grant", "not a member")
    verified = assertion_for(deployment, idp, client, email_verified=True)
    assert exchange(deployment, client, verified).status_code == 200


def test_a_suspended_member_is_refused(deployment, idp, client, bob):
    membership = Membership.objects.get(workspace=deployment.acme, user=bob)
    offboarding.suspend_member(membership=membership, actor=deployment.alice)
    _refused(
        exchange(deployment, client, assertion_for(deployment, idp, client)),
        "invalid_grant",
        "suspended",
    )


def test_a_member_the_gateway_is_not_provisioned_to_is_refused(deployment, idp, client, carol):
    assertion = assertion_for(deployment, idp, client, email=carol.email)
    _refused(exchange(deployment, client, assertion), "invalid_target", "not provisioned")


def test_trusting_an_issuer_is_in_the_change_log(deployment, idp):
    change = deployment.acme.changes.get(action="trusted_idp.create")
    assert change.detail["issuer"] == ISSUER and change.actor == deployment.alice


def test_a_rotated_key_is_fetched_at_its_first_use(deployment, idp, client):
    assert exchange(deployment, client, assertion_for(deployment, idp, client)).status_code == 200
    fetched = idp.jwks_fetches
    old_key, old_kid = idp.key, idp.kid
    idp.key, idp.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "k2"
    try:
        response = exchange(deployment, client, assertion_for(deployment, idp, client))
    finally:
        idp.key, idp.kid = old_key, old_kid
    assert response.status_code == 200, response.text
    assert idp.jwks_fetches == fetched + 1


def test_the_keys_are_fetched_through_the_ssrf_guard(deployment, idp, client, settings):
    # The loopback JWKS URL is refused once private addresses are no longer allowed.
    settings.SSO_ALLOW_PRIVATE_ISSUERS = False
    fetched = idp.jwks_fetches
    assertion = assertion_for(deployment, idp, client)
    _refused(exchange(deployment, client, assertion), "invalid_grant", "could not be read")
    assert idp.jwks_fetches == fetched


def test_made_up_key_ids_fetch_the_keys_at_most_once_in_a_while(deployment, idp, client):
    assert exchange(deployment, client, assertion_for(deployment, idp, client)).status_code == 200
    fetched = idp.jwks_fetches
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        assertion = assertion_for(deployment, idp, client, kid=kid)
        _refused(exchange(deployment, client, assertion), "invalid_grant", "key id", keep=True)
    assert idp.jwks_fetches == fetched + 1


def test_an_issuer_that_is_not_a_string_is_refused(deployment, idp, client):
    # PyJWT will not write such a claim, so the token is signed from its JSON by hand.
    claims = jwt.decode(assertion_for(deployment, idp, client), options={"verify_signature": False})
    claims["iss"] = [ISSUER]
    assertion = jwt.api_jws.encode(
        json.dumps(claims).encode(),
        idp.key,
        algorithm="RS256",
        headers={"typ": "oauth-id-jag+jwt", "kid": idp.kid},
    )
    _refused(exchange(deployment, client, assertion), "invalid_grant", "not trusted")


def test_a_request_without_an_assertion_is_refused(deployment, idp, client):
    response = exchange(deployment, client, "")
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_public_client_may_not_present_an_assertion(deployment, idp, oauth_client):
    # A client registered dynamically without a secret proves nothing about who it is.
    assertion = assertion_for(deployment, idp, (oauth_client.client_id, ""))
    response = httpx.post(
        f"{deployment.base}/oauth/token/",
        data={
            "grant_type": GRANT,
            "assertion": assertion,
            "client_id": oauth_client.client_id,
            "resource": deployment.url,
        },
        timeout=TIMEOUT,
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    # Registration left its own management token (RFC 7592), held by no one.
    assert not AccessToken.objects.filter(user__isnull=False).exists()
