"""The platform's client ID metadata document as its `client_id` at upstream authorization
servers that take one (tests/identities/oauth_upstream.py with `metadata_documents=True`, which
fetches the document from the live platform), and the fallbacks: a pre-registered client first,
dynamic registration where no document can be presented."""

import dataclasses

from identities.models import UpstreamOAuthClient
from identities.upstream import client_document
from servers import oauth_discovery


def test_the_platform_publishes_its_client_document(client, settings):
    settings.OAUTH_ISSUER = "https://gatehouse.example.com/"
    answer = client.get("/oauth/upstream-client")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    document = answer.json()
    assert document["client_id"] == "https://gatehouse.example.com/oauth/upstream-client"
    assert document["redirect_uris"] == [
        "https://gatehouse.example.com/oauth/upstream-client/callback"
    ]
    assert document["token_endpoint_auth_method"] == "none"
    assert document["grant_types"] == ["authorization_code", "refresh_token"]
    assert document["response_types"] == ["code"]
    assert "client_secret" not in document

    settings.OAUTH_ISSUER = ""
    assert client.get("/oauth/upstream-client").status_code == 404


def test_a_server_that_takes_documents_gets_the_document_url(document_accounts, bob, settings):
    accounts = document_accounts
    base = accounts.deployment.base
    settings.OAUTH_ISSUER = base
    accounts.connect(bob)

    provider = accounts.upstream.provider
    assert provider.clients == {}  # nothing registered
    # Fetched from the live platform whenever the server looks the client up.
    document = provider.documents[0]
    assert all(d == document for d in provider.documents)
    assert document["client_id"] == f"{base}/oauth/upstream-client"
    assert document["redirect_uris"] == [f"{base}/oauth/upstream-client/callback"]
    authorize = accounts.upstream.authorize_requests[-1]
    assert authorize["client_id"] == f"{base}/oauth/upstream-client"
    assert authorize["redirect_uri"] == f"{base}/oauth/upstream-client/callback"
    oauth_client = UpstreamOAuthClient.objects.get(assignment=accounts.assignment)
    assert oauth_client.registration == UpstreamOAuthClient.Registration.METADATA_DOCUMENT
    assert oauth_client.secret == "" and oauth_client.auth_method == "none"

    first = accounts.call(bob)
    assert not first.is_error, first.content[0].text
    assert first.content[0].text.startswith("bob|")
    # A refused token is refreshed as the same public client.
    accounts.upstream.revoke_access_tokens()
    second = accounts.call(bob)
    assert second.content[0].text.startswith("bob|") and second.content[0].text != first
    refresh = accounts.upstream.token_requests[-1]
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["client_id"] == f"{base}/oauth/upstream-client"
    assert "client_secret" not in refresh


def test_without_a_public_origin_the_platform_registers(document_accounts, bob, settings):
    settings.OAUTH_ISSUER = ""
    document_accounts.connect(bob)
    provider = document_accounts.upstream.provider
    assert provider.documents == [] and len(provider.clients) == 1
    oauth_client = UpstreamOAuthClient.objects.get(assignment=document_accounts.assignment)
    assert oauth_client.registration == UpstreamOAuthClient.Registration.DYNAMIC
    assert document_accounts.call(bob).content[0].text.startswith("bob|")


def test_a_pre_registered_client_comes_before_the_document(document_accounts, bob, api, settings):
    from mcp.shared.auth import OAuthClientInformationFull

    accounts = document_accounts
    settings.OAUTH_ISSUER = accounts.deployment.base
    accounts.upstream.provider.clients["pre-registered"] = OAuthClientInformationFull(
        client_id="pre-registered",
        client_secret="pre-secret",
        redirect_uris=[f"{accounts.deployment.base}/w/acme/connections/callback/"],
        token_endpoint_auth_method="client_secret_basic",
        scope="mcp",
    )
    url = f"/api/v1/workspaces/acme/gateways/dev/assignments/{accounts.assignment.pk}/credentials/"
    body = {"shared": True, "kind": "oauth_client", "client_id": "pre-registered"}
    body |= {"client_secret": "pre-secret", "auth_method": "client_secret_basic"}
    assert api.as_(accounts.deployment.alice).post(url, body, format="json").status_code == 201

    accounts.connect(bob)
    assert accounts.upstream.provider.documents == []
    assert accounts.upstream.authorize_requests[-1]["client_id"] == "pre-registered"
    oauth_client = UpstreamOAuthClient.objects.get(assignment=accounts.assignment)
    assert oauth_client.registration == UpstreamOAuthClient.Registration.PRE_REGISTERED


def test_a_document_url_the_server_could_not_fetch_is_not_presented(settings):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    metadata = oauth_discovery.ServerMetadata(
        resource="https://mcp.example.com/mcp",
        issuer="https://auth.example.com",
        authorization_endpoint="https://auth.example.com/authorize",
        token_endpoint="https://auth.example.com/token",
        registration_endpoint="https://auth.example.com/register",
        scope="",
        auth_methods=("none",),
        metadata_documents=True,
    )
    https = "https://gatehouse.example.com/oauth/upstream-client"
    assert client_document.client_at(metadata, https).client_id == https
    assert client_document.client_at(metadata, "http://10.0.0.5/doc") is None
    assert client_document.client_at(metadata, "") is None
    unsupported = dataclasses.replace(metadata, metadata_documents=False)
    assert client_document.client_at(unsupported, https) is None
