"""Fixtures of the identities tests: OAuth clients of the live gateway (tests/support/
live_gateway.py), an upstream that insists on credentials, and one protected by its own
authorization server (`user_oauth`)."""

import pytest

from gateways import services as gateway_services
from servers import services as server_services
from tests.identities.identity_upstream import IdentityUpstream
from tests.identities.oauth_accounts import Accounts
from tests.identities.oauth_client import OAuthClient
from tests.identities.oauth_upstream import OAuthUpstream
from tests.support.live import ThreadedServer, free_port
from tests.support.live_gateway import connect, run_client


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Every test here, like the data plane's, starts and ends with an empty cache."""


@pytest.fixture
def oauth_client(deployment):
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

    def __init__(self, deployment, upstream, api):
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
            async with connect(self.deployment, token, mode) as client:
                names = [t.name for t in (await client.list_tools()).tools]
                return names, await client.call_tool(tool, {})

        return run_client(scenario())


@pytest.fixture
def brokered(deployment, identity_upstream, api):
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
def accounts(deployment, oauth_upstream):
    return Accounts(deployment, oauth_upstream)


@pytest.fixture
def document_accounts(deployment, settings):
    """`accounts`, at an authorization server that takes client ID metadata documents."""
    for upstream in _oauth_upstream(settings, metadata_documents=True):
        yield Accounts(deployment, upstream)
