"""Fixtures of the identities tests: the live gateway of the data-plane tests, OAuth clients,
an upstream that insists on credentials, and one protected by its own authorization server
(`user_oauth`)."""

import asyncio
import base64
import hashlib
import secrets
from urllib.parse import urlencode

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateways import services as gateway_services
from servers import services as server_services
from tests.gateways.conftest import (  # noqa: F401  (fixtures)
    _fresh_cache,
    deployment,
    gateway_base,
    upstream_url,
)
from tests.identities.browser import Browser
from tests.identities.identity_upstream import IdentityUpstream
from tests.identities.oauth_accounts import Accounts
from tests.identities.oauth_upstream import OAuthUpstream
from tests.support.live import ThreadedServer, free_port

REDIRECT_URI = "http://127.0.0.1:8976/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


class OAuthClient:
    """A client registered dynamically, that runs authorization code + PKCE by hand."""

    def __init__(self, base: str, **metadata):
        self.base = base
        body = {
            "client_name": "Test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            **metadata,
        }
        response = httpx.post(f"{base}/oauth/register", json=body)
        assert response.status_code == 201, response.text
        self.registration = response.json()
        self.client_id = self.registration["client_id"]

    def authorize_url(self, resource: str | None, challenge: str, **extra) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        if resource:
            params["resource"] = resource
        return f"{self.base}/oauth/authorize/?{urlencode(params)}"

    def token(self, **data) -> httpx.Response:
        return httpx.post(f"{self.base}/oauth/token/", data={"client_id": self.client_id, **data})

    def tokens_for(self, email: str, resource: str) -> dict:
        """Run the whole flow as `email` for the gateway at `resource`; the token response."""
        verifier, challenge = pkce()
        answer = Browser(self.base).authorize(self.authorize_url(resource, challenge), email)
        response = self.token(
            grant_type="authorization_code",
            code=answer["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
            resource=resource,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def oauth_client(deployment):  # noqa: F811
    return OAuthClient(deployment.base)


@pytest.fixture(scope="session")
def identity_upstream():
    """The credential-checking upstream of tests/identities/identity_upstream.py, live."""
    app = IdentityUpstream()
    server = ThreadedServer(app).start()
    app.url = f"{server.url}/mcp"
    app.token_url = f"{server.url}/token"
    app.sse_url = f"{server.url}/sse"
    yield app
    server.stop()


class Brokered:
    """Deployment `acme/dev` plus assignment `ids` of the credential-checking upstream."""

    def __init__(self, deployment, upstream, api):  # noqa: F811
        self.deployment, self.upstream, self.api = deployment, upstream, api
        alice = deployment.alice
        self.server = server_services.create_server(
            workspace=deployment.acme, name="ids", url=upstream.url, actor=alice
        )
        self.assignment = gateway_services.assign_server(
            gateway=deployment.gateway, server=self.server, namespace="ids", actor=alice
        )
        self.credentials_url = (
            f"/api/v1/workspaces/acme/gateways/dev/assignments/{self.assignment.pk}/credentials/"
        )

    def use_scheme(self, scheme: str) -> None:
        self.assignment = gateway_services.update_assignment(
            assignment=self.assignment, identity_scheme=scheme, actor=self.deployment.alice
        )

    def set_credential(self, user, body: dict, status: int = 201) -> dict:
        response = self.api.as_(user).post(self.credentials_url, body, format="json")
        assert response.status_code == status, response.content
        return response.json()

    def call(self, user, tool: str = "ids__whoami", mode: str = "legacy"):
        """Call `tool` over the SDK client as `user`; (tool names listed, call result)."""
        token = self.deployment.token_for(user)

        async def scenario():
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            transport = streamable_http_client(self.deployment.url, http_client=http)
            async with Client(transport, mode=mode, cache=None) as client:
                names = [t.name for t in (await client.list_tools()).tools]
                return names, await client.call_tool(tool, {})

        try:
            return asyncio.run(scenario())
        except BaseExceptionGroup as group:
            # The client's task group wraps what the call raised; tests expect that error.
            while isinstance(group, BaseExceptionGroup):
                group = group.exceptions[0]
            raise group from None


@pytest.fixture
def brokered(deployment, identity_upstream, api):  # noqa: F811
    return Brokered(deployment, identity_upstream, api)


def _oauth_upstream(settings, **options):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = True
    port = free_port()
    upstream = OAuthUpstream(port, **options)
    server = ThreadedServer(upstream, port=port).start()
    yield upstream
    server.stop()


@pytest.fixture
def oauth_upstream(settings):
    """The upstream of tests/identities/oauth_upstream.py, with its own authorization server."""
    yield from _oauth_upstream(settings)


@pytest.fixture
def accounts(deployment, oauth_upstream):  # noqa: F811
    return Accounts(deployment, oauth_upstream)


@pytest.fixture
def document_accounts(deployment, settings):  # noqa: F811
    """`accounts`, at an authorization server that takes client ID metadata documents."""
    for upstream in _oauth_upstream(settings, metadata_documents=True):
        yield Accounts(deployment, upstream)
