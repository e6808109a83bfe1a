"""Headless clients: a confidential client an admin registered acts as one member and gets a
gateway token through the client credentials grant, which a real MCP SDK client then uses."""

import asyncio
import base64

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken, Application

from core.errors import ValidationFailed
from gateways import services as gateway_services
from identities import offboarding
from identities.inbound.oauth import headless_clients
from teams.models import Membership

# Generous: the token endpoint hashes secrets, and the machine may be busy.
TIMEOUT = 60


@pytest.fixture
def agent(deployment, bob):
    membership = Membership.objects.get(workspace=deployment.acme, user=bob)
    headless, secret = headless_clients.register_headless_client(
        workspace=deployment.acme,
        membership=membership,
        name="Nightly agent",
        actor=deployment.alice,
    )
    return headless.application.client_id, secret, headless


def token_request(deployment, client_id, secret, resource=None, **extra):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **extra}
    if resource is not False:
        data["resource"] = resource or deployment.url
    return httpx.post(
        f"{deployment.base}/oauth/token/",
        data=data,
        headers={"Authorization": f"Basic {basic}"},
        timeout=TIMEOUT,
    )


def test_the_sdk_gets_a_token_and_calls_a_tool(deployment, agent, bob):
    client_id, secret, _ = agent
    provider = ClientCredentialsOAuthProvider(
        server_url=deployment.url,
        storage=_Storage(),
        client_id=client_id,
        client_secret=secret,
        issuer=deployment.base,
    )

    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        async with Client(
            streamable_http_client(deployment.url, http_client=http), mode="legacy", cache=None
        ) as mcp:
            return await mcp.call_tool("notes__echo", {"text": "hello from a robot"})

    assert asyncio.run(scenario()).content[0].text == "hello from a robot"
    token = AccessToken.objects.get(application__client_id=client_id)
    assert token.user == bob and token.resource == [deployment.url]


class _Storage:
    tokens = client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, info):
        self.client_info = info


def test_the_token_is_a_gateway_token_without_refresh(deployment, agent):
    response = token_request(deployment, *agent[:2])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("gto_") and "refresh_token" not in body
    assert deployment.initialize(body["access_token"])


def test_the_secret_is_stored_as_a_digest(agent):
    client_id, secret, _ = agent
    stored = Application.objects.get(client_id=client_id).client_secret
    assert secret.startswith("gtc_") and secret not in stored


def _refused(response, error, words="", status=400):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert words in body.get("error_description", ""), body
    assert not AccessToken.objects.exists()


def test_a_wrong_secret_or_unknown_client_is_refused(deployment, agent):
    _refused(token_request(deployment, agent[0], "wrong"), "invalid_client", status=401)
    _refused(token_request(deployment, "no-such-client", "x"), "invalid_client", status=401)


def test_a_client_not_registered_as_headless_is_refused(deployment):
    app = Application.objects.create(
        name="Self-made",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="s3cret",
    )
    _refused(
        token_request(deployment, app.client_id, "s3cret"), "unauthorized_client", "not registered"
    )


def test_a_resource_is_required_and_must_be_a_gateway_of_the_workspace(
    deployment, agent, globex, mallory
):
    gateway_services.create_gateway(workspace=globex, slug="ops", name="Ops", actor=mallory)
    for resource in (False, f"{deployment.base}/mcp/globex/ops", f"{deployment.base}/mcp/acme"):
        _refused(
            token_request(deployment, *agent[:2], resource=resource),
            "invalid_target",
            "gateway URL",
        )


def test_a_suspended_member_gets_no_token(deployment, agent, bob):
    membership = Membership.objects.get(workspace=deployment.acme, user=bob)
    offboarding.suspend_member(membership=membership, actor=deployment.alice)
    _refused(token_request(deployment, *agent[:2]), "invalid_grant", "suspended")


def test_a_member_the_gateway_is_not_provisioned_to_gets_no_token(deployment, carol):
    membership = Membership.objects.get(workspace=deployment.acme, user=carol)
    headless, secret = headless_clients.register_headless_client(
        workspace=deployment.acme,
        membership=membership,
        name="Audit bot",
        actor=deployment.alice,
    )
    _refused(
        token_request(deployment, headless.application.client_id, secret),
        "invalid_target",
        "not provisioned",
    )


def test_suspending_the_member_ends_the_clients_tokens(deployment, agent, bob):
    token = token_request(deployment, *agent[:2]).json()["access_token"]
    deployment.initialize(token)
    membership = Membership.objects.get(workspace=deployment.acme, user=bob)
    offboarding.suspend_member(membership=membership, actor=deployment.alice)
    refused = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 401


def test_deleting_the_client_ends_its_tokens(deployment, agent):
    token = token_request(deployment, *agent[:2]).json()["access_token"]
    deployment.initialize(token)
    headless_clients.delete_headless_client(headless=agent[2], actor=deployment.alice)
    assert not Application.objects.filter(client_id=agent[0]).exists()
    refused = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 401
    actions = set(deployment.acme.changes.values_list("action", flat=True))
    assert {"headless_client.register", "headless_client.delete"} <= actions


def test_a_member_of_another_workspace_cannot_be_named(deployment, mallory, globex):
    membership = Membership.objects.get(workspace=globex, user=mallory)
    with pytest.raises(ValidationFailed):
        headless_clients.register_headless_client(
            workspace=deployment.acme, membership=membership, name="x", actor=deployment.alice
        )


def test_removing_the_member_deletes_the_client(deployment, agent, bob):
    membership = Membership.objects.get(workspace=deployment.acme, user=bob)
    revoked = offboarding.remove_member_and_revoke(
        membership=membership, actor=deployment.alice, acting_member=None
    )
    assert revoked["headless_clients"] == 1
    assert not Application.objects.filter(client_id=agent[0]).exists()
    _refused(token_request(deployment, *agent[:2]), "invalid_client", status=401)
