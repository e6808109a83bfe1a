"""Connecting is one flow: at a client's OAuth consent the person connects the upstream accounts
the gateway needs from them (`user_oauth`), through the real upstream authorization server, and
comes back to the same consent page; the client's first tool call then already works."""

import asyncio

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from identities.models import UpstreamConnection
from tests.identities.browser import Browser, form_fields, forms, query
from tests.identities.oauth_client import REDIRECT_URI, pkce
from tests.identities.sdk_oauth import MemoryStorage, sdk_provider

ACCOUNT_ROW = 'data-testid="account-{pk}"'


def status_of(page_text: str, assignment) -> str:
    row = page_text.split(ACCOUNT_ROW.format(pk=assignment.pk), 1)[1].split("</tr>", 1)[0]
    for status in ("needs reconnecting", "not connected", "connected"):
        if f">{status}</span>" in row:
            return status
    raise AssertionError(f"no status in {row}")


def connect_at_consent(accounts, browser, page, subject="bob", next_path=None):
    """Press Connect on the consent page, consent at the upstream's authorization server as
    `subject`, and follow the way back; the page the person lands on."""
    action = f"/w/acme/connections/{accounts.assignment.pk}/connect/"
    form = next(f for f in forms(page.text) if f["action"] == action)
    fields = dict(form["fields"])
    if next_path is not None:
        fields["next"] = next_path
    sent = browser.http.post(action, data=fields)
    assert sent.status_code == 302, sent.text
    at_server = httpx.get(sent.headers["location"])  # the upstream's authorization endpoint
    assert at_server.status_code == 302, at_server.text
    upstream_consent = httpx.get(at_server.headers["location"])
    answer = {**form_fields(upstream_consent.text), "user": subject}
    back = httpx.post(f"{accounts.upstream.base}/consent", data=answer)
    assert back.status_code == 302, back.text
    done = browser.http.get(back.headers["location"])  # the platform's callback
    assert done.status_code == 302, done.text
    return done.headers["location"], form["fields"]["next"]


def call_with(url: str, provider, tool: str, arguments: dict | None = None):
    async def scenario():
        http = httpx2.AsyncClient(auth=provider, timeout=30)
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            return await client.call_tool(tool, arguments or {})

    return asyncio.run(scenario())


def test_the_client_s_first_call_works_after_connecting_at_consent(accounts, bob):
    deployment = accounts.deployment

    def at_consent(browser, page):
        challenge = form_fields(page.text)["code_challenge"]
        assert status_of(page.text, accounts.assignment) == "not connected"
        assert "accounts" in page.text
        landed, next_path = connect_at_consent(accounts, browser, page)
        # Back to the very consent page, with the pending authorization request intact.
        assert landed == next_path
        assert landed.startswith("/oauth/authorize/?")
        assert query(landed)["resource"] == deployment.url
        again = browser.http.get(landed)
        assert again.status_code == 200, again.text
        assert status_of(again.text, accounts.assignment) == "connected"
        assert "Your account at accounts is connected to Developer tools." in again.text
        assert form_fields(again.text)["code_challenge"] == challenge
        return again

    storage = MemoryStorage()
    provider, redirects = sdk_provider(deployment, bob.email, storage, at_consent=at_consent)
    result = call_with(deployment.url, provider, "acct__whoami")

    assert not result.is_error, result.content[0].text
    subject, upstream_token = result.content[0].text.split("|")
    assert subject == "bob" and upstream_token.startswith("at-")
    assert len(redirects) == 1 and query(redirects[0])["code"]
    assert UpstreamConnection.objects.get(assignment=accounts.assignment).owner == bob
    # The first call went out as bob, with his own connection, and the log says so.
    flush(timeout=10)
    hops = LogEntry.objects.filter(hop="upstream.request", assignment_id=accounts.assignment.pk)
    assert [(h.user_email, h.identity_scheme) for h in hops] == [(bob.email, "user_oauth")]
    assert hops[0].detail == {"credential": "personal"}


def test_approving_without_connecting_leaves_the_connect_here_error(accounts, bob):
    deployment = accounts.deployment
    provider, _ = sdk_provider(deployment, bob.email, MemoryStorage())
    result = call_with(deployment.url, provider, "acct__whoami")
    assert result.is_error
    assert "not connected yet" in result.content[0].text
    assert "/w/acme/connections/" in result.content[0].text
    assert accounts.upstream.subjects == []


def test_consent_shows_each_account_s_status(accounts, oauth_client, bob):
    _verifier, challenge = pkce()
    url = oauth_client.authorize_url(accounts.deployment.url, challenge)
    browser = Browser(accounts.deployment.base)
    page = browser.open_consent(url, bob.email)
    assert status_of(page.text, accounts.assignment) == "not connected"
    assert ">Connect</button>" in page.text

    accounts.connect(bob)
    browser = Browser(accounts.deployment.base)
    page = browser.open_consent(url, bob.email)
    assert status_of(page.text, accounts.assignment) == "connected"
    assert ">Reconnect</button>" in page.text

    UpstreamConnection.objects.filter(owner=bob).update(
        status=UpstreamConnection.Status.NEEDS_RECONNECT
    )
    page = browser.http.get(url)
    assert status_of(page.text, accounts.assignment) == "needs reconnecting"


def test_an_assignment_of_another_gateway_is_not_listed(accounts, oauth_client, bob):
    other = gateway_services.create_gateway(
        workspace=accounts.deployment.acme, slug="ops", name="Ops", actor=accounts.deployment.alice
    )
    gateway_services.provision_teams(gateway=other, team_slugs=["eng"], actor=bob)
    _verifier, challenge = pkce()
    page = Browser(accounts.deployment.base).open_consent(
        oauth_client.authorize_url(f"{accounts.deployment.base}/mcp/acme/ops", challenge), bob.email
    )
    assert page.status_code == 200
    assert ACCOUNT_ROW.format(pk=accounts.assignment.pk) not in page.text
    assert "Your accounts" not in page.text


def test_connect_comes_back_only_to_a_path_on_this_site(accounts, oauth_client, bob):
    _verifier, challenge = pkce()
    url = oauth_client.authorize_url(accounts.deployment.url, challenge)
    browser = Browser(accounts.deployment.base)
    page = browser.open_consent(url, bob.email)
    for hostile in (
        "https://evil.test/steal",
        "//evil.test/steal",
        "/\\evil.test/steal",
        "javascript:alert(1)",
        "/oauth/authorize/\r\nSet-Cookie: x=1",
    ):
        landed, _ = connect_at_consent(accounts, browser, page, next_path=hostile)
        assert landed == "/w/acme/connections/", hostile
    landed, _ = connect_at_consent(accounts, browser, page, next_path="/w/acme/")
    assert landed == "/w/acme/"
    assert UpstreamConnection.objects.get(owner=bob).status == "connected"


def test_connecting_at_a_workspace_consent_comes_back_with_its_gateway_picked(
    accounts, oauth_client, bob
):
    deployment = accounts.deployment
    other = gateway_services.create_gateway(
        workspace=deployment.acme, slug="ops", name="Ops", actor=deployment.alice
    )
    gateway_services.provision_teams(gateway=other, team_slugs=["eng"], actor=deployment.alice)
    workspace_url = f"{deployment.base}/mcp/acme"
    verifier, challenge = pkce()
    browser = Browser(deployment.base)
    page = browser.open_consent(oauth_client.authorize_url(workspace_url, challenge), bob.email)
    assert page.status_code == 200
    # Two gateways to pick from, none picked yet.
    assert 'value="dev" checked' not in page.text and 'value="ops" checked' not in page.text

    landed, _ = connect_at_consent(accounts, browser, page)
    assert query(landed)["gateway"] == "dev" and query(landed)["resource"] == workspace_url
    again = browser.http.get(landed)
    assert 'name="gateway" value="dev" checked' in again.text
    assert status_of(again.text, accounts.assignment) == "connected"

    answer = browser.consent(again, gateway="dev")
    assert answer.status_code == 302, answer.text
    issued = oauth_client.token(
        grant_type="authorization_code",
        code=query(answer.headers["location"])["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(workspace_url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            return await client.call_tool("acct__whoami", {})

    result = asyncio.run(scenario())
    assert not result.is_error, result.content[0].text
    assert result.content[0].text.startswith("bob|at-")
