"""End to end: the mcp SDK's OAuth client connects to a live gateway knowing only its URL."""

import asyncio

import httpx2
from django.db import connection
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.identities.browser import Browser, query
from tests.identities.conftest import REDIRECT_URI


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def sdk_provider(deployment, email, storage):
    browser = Browser(deployment.base)
    redirects = []

    async def redirect_handler(authorization_url: str) -> None:
        # The person signs in through the real login form and allows on the consent page.
        page = browser.open_consent(authorization_url, email)
        assert page.status_code == 200, page.text
        assert "Test client" in page.text and "Developer tools" in page.text
        answer = browser.consent(page)
        assert answer.status_code == 302, answer.text
        redirects.append(answer.headers["location"])

    async def callback_handler() -> AuthorizationCodeResult:
        params = query(redirects[-1])
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )

    metadata = OAuthClientMetadata(
        client_name="Test client",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        server_url=deployment.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    return provider, redirects


def test_the_sdk_discovers_registers_authorizes_and_calls_a_tool(deployment, bob):
    storage = MemoryStorage()
    provider, redirects = sdk_provider(deployment, bob.email, storage)

    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        transport = streamable_http_client(deployment.url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            echo = await client.call_tool("notes__echo", {"text": "hello over oauth"})
            return tools, echo

    tools, echo = asyncio.run(scenario())
    assert "notes__echo" in tools
    assert echo.content[0].text == "hello over oauth"
    # One consent, with the issuer in the answer (RFC 9207).
    assert len(redirects) == 1
    assert query(redirects[0])["iss"] == deployment.base
    access = storage.tokens.access_token
    assert access.startswith("gto_") and storage.tokens.refresh_token.startswith("gtr_")
    assert storage.tokens.expires_in <= 3600

    stored = AccessToken.objects.exclude(resource=[]).get()
    assert stored.user == bob
    assert stored.resource == [deployment.url]
    assert stored.application.name == "Test client"
    assert stored.application.client_type == Application.CLIENT_PUBLIC


def test_tokens_are_stored_as_digests_only(deployment, bob, oauth_client):
    issued = oauth_client.tokens_for(bob.email, deployment.url)
    with connection.cursor() as cursor:
        for table in (AccessToken._meta.db_table, RefreshToken._meta.db_table):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            dump = repr(cursor.fetchall())
            assert issued["access_token"] not in dump
            assert issued["refresh_token"] not in dump
    assert AccessToken.objects.filter(resource=[deployment.url]).exclude(token="").count() == 0
    assert RefreshToken.objects.exclude(token="").count() == 0
