"""End to end: the mcp SDK's OAuth client connects to a live gateway knowing only its URL."""

import asyncio

import httpx2
from django.db import connection
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.identities.browser import query
from tests.identities.sdk_oauth import MemoryStorage, sdk_provider


def test_the_sdk_discovers_registers_authorizes_and_calls_a_tool(deployment, bob):
    storage = MemoryStorage()
    pages = []
    provider, redirects = sdk_provider(deployment, bob.email, storage, pages=pages)

    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        transport = streamable_http_client(deployment.url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            echo = await client.call_tool("notes__echo", {"text": "hello over oauth"})
            return tools, echo

    tools, echo = asyncio.run(scenario())
    assert "notes__echo" in tools
    assert "Developer tools" in pages[0]
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
