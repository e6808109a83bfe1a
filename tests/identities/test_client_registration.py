"""Dynamic registration as real clients send it (RFC 7591), then their whole sign-in: the
authorization code with PKCE through to a token that opens the gateway; and the port freedom
loopback redirect URIs get (RFC 8252 7.3) without loosening any other match."""

import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.identities.browser import Browser
from tests.identities.client_registrations import ALL, ClientRegistration
from tests.identities.oauth_client import pkce

ECHOED = ("client_name", "redirect_uris", "grant_types", "response_types")


def register(base: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/oauth/register", json=body)


def authorize_url(base, client_id, redirect_uri, resource, challenge) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    return f"{base}/oauth/authorize/?{urlencode(params)}"


def exchange(base, registration: dict, code, redirect_uri, verifier, resource) -> httpx.Response:
    """The code exchange, authenticated the way the client registered to."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "resource": resource,
        "client_id": registration["client_id"],
    }
    method, auth = registration["token_endpoint_auth_method"], None
    if method == "client_secret_post":
        data["client_secret"] = registration["client_secret"]
    elif method == "client_secret_basic":
        auth = (registration["client_id"], registration["client_secret"])
    return httpx.post(f"{base}/oauth/token/", data=data, auth=auth)


def sign_in(deployment, person, registration: dict, redirect_uri: str) -> httpx.Response:
    """The person allows the client; the token response of the code exchange."""
    verifier, challenge = pkce()
    url = authorize_url(
        deployment.base, registration["client_id"], redirect_uri, deployment.url, challenge
    )
    answer = Browser(deployment.base).authorize(url, person.email)
    assert answer["state"] == "s1"
    return exchange(
        deployment.base, registration, answer["code"], redirect_uri, verifier, deployment.url
    )


@pytest.mark.parametrize("client", ALL, ids=[c.name for c in ALL])
def test_each_client_gets_a_compliant_registration_and_a_working_token(
    deployment, bob, client: ClientRegistration
):
    before = int(time.time())
    response = register(deployment.base, client.body)
    assert response.status_code == 201, response.text
    registration = response.json()
    for field in ECHOED:
        assert registration[field] == client.body[field], field
    assert registration["token_endpoint_auth_method"] == client.body["token_endpoint_auth_method"]
    assert before - 1 <= registration["client_id_issued_at"] <= time.time() + 1
    if client.body["token_endpoint_auth_method"] == "none":
        assert "client_secret" not in registration
        assert "client_secret_expires_at" not in registration
    else:
        assert registration["client_secret"]
        assert registration["client_secret_expires_at"] == 0
    if "scope" in client.body:
        assert registration["scope"] == client.body["scope"]

    token = sign_in(deployment, bob, registration, client.authorize_with)
    assert token.status_code == 200, token.text
    issued = token.json()
    assert issued["access_token"].startswith("gto_") and issued["refresh_token"]
    assert deployment.initialize(issued["access_token"])


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://localhost:54212/callback", "http://localhost:61873/callback"),
        ("http://[::1]:54212/callback", "http://[::1]:61873/callback"),
        ("http://127.0.0.1:54212/callback?client=cli", "http://127.0.0.1:80/callback?client=cli"),
    ],
)
def test_a_loopback_redirect_uri_may_use_any_port(deployment, bob, registered, requested):
    body = {"redirect_uris": [registered], "token_endpoint_auth_method": "none"}
    registration = register(deployment.base, body).json()
    token = sign_in(deployment, bob, registration, requested)
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        # The path and the query must still match on loopback.
        ("http://localhost:54212/callback", "http://localhost:61873/elsewhere"),
        ("http://localhost:54212/callback", "http://localhost:54212/callback?extra=1"),
        # The host must match: localhost is not 127.0.0.1, and not a name that starts like it.
        ("http://localhost:54212/callback", "http://127.0.0.1:54212/callback"),
        ("http://localhost:54212/callback", "http://localhost.evil.example:54212/callback"),
        # Only http loopback URIs: a port is part of any other URI.
        ("https://app.example.com:8443/callback", "https://app.example.com:9443/callback"),
        ("https://localhost:8443/callback", "https://localhost:9443/callback"),
    ],
)
def test_any_other_redirect_uri_must_match_and_is_refused_clearly(
    deployment, bob, registered, requested
):
    body = {"redirect_uris": [registered], "token_endpoint_auth_method": "none"}
    registration = register(deployment.base, body).json()
    _verifier, challenge = pkce()
    url = authorize_url(
        deployment.base, registration["client_id"], requested, deployment.url, challenge
    )
    page = Browser(deployment.base).open_consent(url, bob.email)
    # Never sent to the unregistered URI: the person is told, on the server's own page.
    assert page.status_code == 400, page.text
    assert "location" not in page.headers
    assert "Mismatching redirect URI" in page.text


def test_a_registration_asking_for_another_response_type_is_refused(deployment):
    body = {"redirect_uris": ["https://app.example.com/cb"], "response_types": ["code", "token"]}
    refused = register(deployment.base, body)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "response_types" in refused.json()["error_description"]
    odd = register(deployment.base, {**body, "response_types": [{"a": 1}], "client_name": ["x"]})
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_client_metadata"
