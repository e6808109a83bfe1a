"""The workspace URL, `/mcp/<workspace>`: a protected resource where the person picks, at
consent, one of the gateways provisioned to them; the token opens that gateway there and only
there. Driven over real sockets with the `mcp` SDK and its OAuth client provider."""

import asyncio

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from identities.inbound import client_access
from identities.models import ChosenGateway
from tests.identities.browser import Browser, form_fields, query
from tests.identities.oauth_client import REDIRECT_URI, pkce
from tests.identities.sdk_oauth import MemoryStorage, sdk_provider

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


class Workspace:
    """`acme` with gateways `dev` (the deployment's) and `ops`, both provisioned to team eng,
    and `vault`, provisioned to nobody but those who may use every gateway."""

    def __init__(self, deployment):
        self.deployment = deployment
        alice = deployment.alice
        self.url = f"{deployment.base}/mcp/acme"
        self.ops = gateway_services.create_gateway(
            workspace=deployment.acme, slug="ops", name="Operations", actor=alice
        )
        gateway_services.provision_teams(gateway=self.ops, team_slugs=["eng"], actor=alice)
        gateway_services.assign_server(
            gateway=self.ops, server=deployment.server, namespace="opsnotes", actor=alice
        )
        self.vault = gateway_services.create_gateway(
            workspace=deployment.acme, slug="vault", name="Vault", actor=alice
        )

    def tokens(self, oauth_client, email: str, gateway: str = "dev") -> dict:
        """Authorize for the workspace URL as `email`, picking `gateway`; the token response."""
        verifier, challenge = pkce()
        browser = Browser(self.deployment.base)
        page = browser.open_consent(oauth_client.authorize_url(self.url, challenge), email)
        assert page.status_code == 200, page.text
        answer = browser.consent(page, gateway=gateway)
        assert answer.status_code == 302, answer.text
        response = oauth_client.token(
            grant_type="authorization_code",
            code=query(answer.headers["location"])["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def workspace(deployment):
    return Workspace(deployment)


def post(url: str, token: str | None, message=INITIALIZE) -> httpx.Response:
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url, headers=headers, json=message)


def tools_at(url: str, token: str) -> list[str]:
    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            return [t.name for t in (await client.list_tools()).tools]

    return asyncio.run(scenario())


def test_it_is_a_protected_resource_with_its_own_metadata(workspace):
    base = workspace.deployment.base
    response = post(workspace.url, None)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge == (
        f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp/acme"'
    )
    metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp/acme")
    assert metadata.status_code == 200
    data = metadata.json()
    assert data["resource"] == workspace.url
    assert data["authorization_servers"] == [base]
    assert data["resource_name"] == "Acme"
    assert httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp/nope").status_code == 404
    assert post(f"{base}/mcp/nope", None).status_code == 404


def test_the_sdk_picks_a_gateway_at_consent_and_is_served_as_it(workspace, bob):
    deployment = workspace.deployment
    pages, storage = [], MemoryStorage()
    provider, _ = sdk_provider(
        deployment, bob.email, storage, server_url=workspace.url, choose="ops", pages=pages
    )

    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        transport = streamable_http_client(workspace.url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            echo = await client.call_tool("opsnotes__echo", {"text": "via the workspace"})
            return tools, echo

    tools, echo = asyncio.run(scenario())
    # The consent page offered bob's two gateways, not the vault.
    assert "Operations" in pages[0] and "Developer tools" in pages[0]
    assert 'value="vault"' not in pages[0]
    assert "opsnotes__echo" in tools
    assert not any(name.startswith("notes__") for name in tools)
    assert echo.content[0].text == "via the workspace"

    token = AccessToken.objects.get(user=bob)
    assert token.resource == [workspace.url]
    refresh = RefreshToken.objects.get(access_token=token)
    chosen = ChosenGateway.objects.get()
    assert chosen.gateway == workspace.ops and chosen.token_family == refresh.token_family
    assert chosen.grant is None and not Grant.objects.exists()
    # Audited as the gateway it serves, for the person who consented.
    flush(timeout=10)
    calls = LogEntry.objects.filter(hop="client.request", tool="opsnotes__echo")
    assert [(c.gateway_slug, c.user_email) for c in calls] == [("ops", bob.email)]


def test_a_refreshed_token_opens_the_same_gateway(workspace, oauth_client, bob):
    issued = workspace.tokens(oauth_client, bob.email, gateway="ops")
    refreshed = oauth_client.token(
        grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    assert post(workspace.url, issued["access_token"]).status_code == 401  # rotated away
    assert "opsnotes__echo" in tools_at(workspace.url, access)


def test_a_workspace_token_opens_the_workspace_url_only(workspace, oauth_client, bob):
    access = workspace.tokens(oauth_client, bob.email, gateway="dev")["access_token"]
    assert post(workspace.url, access).status_code == 200
    base = workspace.deployment.base
    for url in (f"{base}/mcp/acme/dev", f"{base}/mcp/acme/ops"):
        refused = post(url, access)
        assert refused.status_code == 401, url
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_a_gateway_token_is_refused_at_the_workspace_url(workspace, oauth_client, bob):
    access = oauth_client.tokens_for(bob.email, workspace.deployment.url)["access_token"]
    assert post(workspace.deployment.url, access).status_code == 200
    refused = post(workspace.url, access)
    assert refused.status_code == 401
    assert '/.well-known/oauth-protected-resource/mcp/acme"' in refused.headers["www-authenticate"]


def test_a_token_for_one_workspace_is_refused_at_another(
    workspace, oauth_client, bob, globex, mallory
):
    gateway = gateway_services.create_gateway(
        workspace=globex, slug="prod", name="Production", actor=mallory
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["ops"], actor=mallory)
    access = workspace.tokens(oauth_client, bob.email)["access_token"]
    refused = post(f"{workspace.deployment.base}/mcp/globex", access)
    assert refused.status_code == 401
    assert '/mcp/globex"' in refused.headers["www-authenticate"]


def test_consent_refuses_a_person_with_no_gateway_here(workspace, oauth_client, carol):
    _verifier, challenge = pkce()
    page = Browser(workspace.deployment.base).open_consent(
        oauth_client.authorize_url(workspace.url, challenge), carol.email
    )
    assert page.status_code == 403
    assert "You cannot connect to workspace Acme" in page.text
    assert 'name="allow"' not in page.text


def test_someone_who_may_use_every_gateway_is_offered_every_gateway(workspace, oauth_client, alice):
    _verifier, challenge = pkce()
    page = Browser(workspace.deployment.base).open_consent(
        oauth_client.authorize_url(workspace.url, challenge), alice.email
    )
    assert page.status_code == 200
    for slug in ("dev", "ops", "vault"):
        assert f'name="gateway" value="{slug}"' in page.text


@pytest.mark.parametrize(
    ("picked", "status", "message"),
    [
        ("vault", 403, "not provisioned to any of your teams"),
        ("prod", 403, "not provisioned to any of your teams"),
        ("", 400, "Pick the gateway"),
    ],
)
def test_a_tampered_or_missing_pick_is_refused(
    workspace, oauth_client, bob, globex, mallory, picked, status, message
):
    gateway_services.create_gateway(workspace=globex, slug="prod", name="Prod", actor=mallory)
    _verifier, challenge = pkce()
    browser = Browser(workspace.deployment.base)
    page = browser.open_consent(oauth_client.authorize_url(workspace.url, challenge), bob.email)
    answer = browser.consent(page, gateway=picked)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert not Grant.objects.exists() and not ChosenGateway.objects.exists()


def test_a_tampered_resource_is_refused(workspace, oauth_client, bob, globex, mallory):
    gateway = gateway_services.create_gateway(
        workspace=globex, slug="prod", name="Prod", actor=mallory
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["ops"], actor=mallory)
    _verifier, challenge = pkce()
    browser = Browser(workspace.deployment.base)
    page = browser.open_consent(oauth_client.authorize_url(workspace.url, challenge), bob.email)
    fields = {**form_fields(page.text), "gateway": "prod", "allow": "Authorize"}
    fields["resource"] = f"{workspace.deployment.base}/mcp/globex"
    answer = browser.http.post(str(page.url), data=fields)
    assert answer.status_code == 403
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "resource",
    [
        "{base}/mcp/nope",
        "https://elsewhere.example/mcp/acme",
        "{base}/mcp/acme?gateway=dev",
        "{base}/mcp/acme/dev/extra",
    ],
)
def test_a_bad_resource_goes_back_to_the_client_as_invalid_target(
    workspace, oauth_client, bob, resource
):
    _verifier, challenge = pkce()
    url = oauth_client.authorize_url(resource.format(base=workspace.deployment.base), challenge)
    answer = Browser(workspace.deployment.base).open_consent(url, bob.email)
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"].startswith(REDIRECT_URI)
    assert query(answer.headers["location"])["error"] == "invalid_target"


def test_access_is_checked_on_every_request(workspace, oauth_client, bob, alice):
    access = workspace.tokens(oauth_client, bob.email, gateway="dev")["access_token"]
    assert post(workspace.url, access).status_code == 200

    gateway_services.provision_teams(
        gateway=workspace.deployment.gateway, team_slugs=[], actor=alice
    )
    assert post(workspace.url, access).status_code == 403
    gateway_services.provision_teams(
        gateway=workspace.deployment.gateway, team_slugs=["eng"], actor=alice
    )
    assert post(workspace.url, access).status_code == 200

    app = Application.objects.get(client_id=oauth_client.client_id)
    client_access.disable_client(
        workspace=workspace.deployment.acme, app=app, gateway_slug="dev", actor=alice
    )
    assert post(workspace.url, access).status_code == 401
    client_access.enable_client(
        workspace=workspace.deployment.acme, app=app, gateway_slug=None, actor=alice
    )
    assert post(workspace.url, access).status_code == 200

    revoked = httpx.post(
        f"{workspace.deployment.base}/oauth/revoke/",
        data={"token": access, "client_id": oauth_client.client_id},
    )
    assert revoked.status_code == 200
    assert post(workspace.url, access).status_code == 401


def test_api_tokens_at_the_workspace_url(workspace, bob, globex):
    deployment = workspace.deployment
    scoped = deployment.token_for(bob, gateway=workspace.ops)
    assert "opsnotes__echo" in tools_at(workspace.url, scoped)

    unscoped = deployment.token_for(bob)
    answer = post(workspace.url, unscoped)
    assert answer.status_code == 400
    error = answer.json()["error"]
    urls = [f"{deployment.base}/mcp/acme/dev", f"{deployment.base}/mcp/acme/ops"]
    assert error["data"] == {"gatewayUrls": urls}
    assert all(url in error["message"] for url in urls)
    # An API token for another workspace is no token here.
    assert post(f"{deployment.base}/mcp/globex", scoped).status_code == 401


def test_sessions_at_the_workspace_url_stay_with_the_gateway(workspace, oauth_client, bob):
    access = workspace.tokens(oauth_client, bob.email, gateway="dev")["access_token"]
    started = post(workspace.url, access)
    assert started.status_code == 200, started.text
    assert started.json()["result"]["serverInfo"]["name"]
    session = started.headers["mcp-session-id"]
    headers = {
        "Authorization": f"Bearer {access}",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-06-18",
    }
    listed = httpx.post(
        workspace.url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    )
    assert listed.status_code == 200, listed.text
    assert "notes__echo" in listed.text
    ended = httpx.delete(workspace.url, headers=headers)
    assert ended.status_code == 204
    again = httpx.post(
        workspace.url, headers=headers, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    )
    assert again.status_code == 404


def test_a_person_with_no_gateway_cannot_approve_by_posting(workspace, oauth_client, carol):
    _verifier, challenge = pkce()
    browser = Browser(workspace.deployment.base)
    page = browser.open_consent(oauth_client.authorize_url(workspace.url, challenge), carol.email)
    for picked in ("", "dev"):
        answer = browser.consent(page, gateway=picked)
        assert answer.status_code == 403, picked
        assert "You cannot connect to workspace Acme" in answer.text
    assert not Grant.objects.exists()
