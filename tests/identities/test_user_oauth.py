"""`user_oauth` end to end: each person connects their own account at an upstream protected by
its own authorization server (tests/identities/oauth_upstream.py, written with the `mcp` SDK),
through the console and the authorization server's consent page, driven over HTTP; then calls
through the live gateway with the SDK client reach the upstream with that person's token."""

import pytest
from django.db import connection as db
from mcp.shared.exceptions import MCPError

from identities.models import UpstreamConnection, UpstreamOAuthClient
from identities.tasks import refresh_upstream_connections
from servers import oauth_discovery
from teams.models import ConfigChange
from tests.identities.browser import Browser, forms


def test_a_person_connects_and_the_upstream_sees_them(accounts, bob):
    browser = accounts.connect(bob)
    page = browser.http.get(accounts.page).text
    assert '<span class="badge ok">connected</span>' in page

    result = accounts.call(bob)
    assert not result.is_error, result.content[0].text
    subject, token = result.content[0].text.split("|")
    assert subject == "bob"
    assert accounts.upstream.subjects == ["bob"]
    # The person's own upstream token, never the client's gateway token.
    assert token.startswith("at-")

    # Discovery, registration, PKCE S256 and the resource on authorization and token requests.
    authorize = accounts.upstream.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["resource"] == accounts.upstream.url
    exchange = accounts.upstream.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["resource"] == accounts.upstream.url
    assert exchange["code_verifier"]
    client = UpstreamOAuthClient.objects.get(assignment=accounts.assignment)
    assert client.registered and client.issuer == accounts.upstream.base
    assert client.client_id in accounts.upstream.provider.clients

    change = ConfigChange.objects.get(action="connection.connect")
    assert change.actor == bob and change.detail["server"] == "accounts"


def test_each_person_reaches_the_upstream_as_themselves(accounts, alice, bob):
    accounts.connect(bob)
    accounts.connect(alice, subject="alice-at-upstream")
    assert accounts.call(alice).content[0].text.startswith("alice-at-upstream|")
    assert accounts.call(bob).content[0].text.startswith("bob|")


def test_a_person_not_connected_gets_the_link_to_connect(accounts, bob):
    result = accounts.call(bob)
    assert result.is_error
    text = result.content[0].text
    assert "not connected yet" in text
    assert "/w/acme/connections/" in text
    assert accounts.upstream.subjects == []


def test_a_client_that_supports_url_elicitation_is_asked_to_open_the_page(accounts, bob):
    async def elicit(context, params):  # never called: the answer is an error to act on
        raise AssertionError("no elicitation request expected")

    with pytest.raises(MCPError) as asked:
        accounts.call(bob, elicitation_callback=elicit)
    assert asked.value.code == -32042
    (request,) = asked.value.error.data["elicitations"]
    assert request["mode"] == "url"
    assert request["url"] == f"{accounts.deployment.base}/w/acme/connections/"
    assert "not connected yet" in request["message"]


def test_the_beat_task_refreshes_tokens_before_they_expire(accounts, bob, settings):
    accounts.upstream.provider.access_seconds = 120  # short-lived: inside the refresh window
    accounts.connect(bob)
    first = accounts.call(bob).content[0].text.split("|")[1]
    stored_before = accounts.connection_of(bob).secret

    counts = refresh_upstream_connections.delay().get()
    assert counts == {"refreshed": 1, "needs_reconnect": 0, "failed": 0}
    refresh = accounts.upstream.token_requests[-1]
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["resource"] == accounts.upstream.url
    connection = accounts.connection_of(bob)
    assert connection.refreshed_at is not None and connection.secret != stored_before

    # The old token is gone at the upstream; the next call presents the new one.
    second = accounts.call(bob)
    assert not second.is_error, second.content[0].text
    assert second.content[0].text.split("|")[1] != first

    # Outside the window, nothing is refreshed.
    settings.UPSTREAM_OAUTH_REFRESH_AHEAD_SECONDS = 10
    assert refresh_upstream_connections.delay().get()["refreshed"] == 0


def test_a_refused_refresh_marks_the_connection_for_reconnecting(accounts, bob):
    accounts.upstream.provider.access_seconds = 120
    browser = accounts.connect(bob)
    accounts.upstream.revoke_refresh_tokens()

    counts = refresh_upstream_connections.delay().get()
    assert counts["needs_reconnect"] == 1
    connection = accounts.connection_of(bob)
    assert connection.status == UpstreamConnection.Status.NEEDS_RECONNECT
    assert "invalid_grant" in connection.last_error
    assert ConfigChange.objects.filter(action="connection.needs_reconnect").count() == 1

    result = accounts.call(bob)
    assert result.is_error
    assert "needs reconnecting" in result.content[0].text
    assert "/w/acme/connections/" in result.content[0].text
    assert "needs reconnecting" in browser.http.get(accounts.page).text

    # Reconnecting brings it back.
    accounts.connect(bob)
    assert accounts.call(bob).content[0].text.startswith("bob|")
    assert ConfigChange.objects.filter(action="connection.reconnect").count() == 1


def test_a_token_the_upstream_refuses_is_refreshed_and_the_call_retried(accounts, bob):
    accounts.connect(bob)
    first = accounts.call(bob).content[0].text
    accounts.upstream.revoke_access_tokens()
    before = len(accounts.upstream.token_requests)

    second = accounts.call(bob)
    assert not second.is_error, second.content[0].text
    assert second.content[0].text.startswith("bob|") and second.content[0].text != first
    refreshes = accounts.upstream.token_requests[before:]
    assert [r["grant_type"] for r in refreshes] == ["refresh_token"]
    assert refreshes[0]["resource"] == accounts.upstream.url


def test_a_refused_token_without_a_usable_refresh_asks_to_reconnect(accounts, bob):
    accounts.connect(bob)
    accounts.call(bob)
    accounts.upstream.revoke_access_tokens()
    accounts.upstream.revoke_refresh_tokens()
    result = accounts.call(bob)
    assert result.is_error
    assert "needs reconnecting" in result.content[0].text
    assert accounts.connection_of(bob).status == UpstreamConnection.Status.NEEDS_RECONNECT


def test_tokens_and_client_secrets_are_stored_encrypted(accounts, bob):
    accounts.connect(bob)
    provider = accounts.upstream.provider
    secrets = [*provider.access, *provider.refresh]
    secrets += [c.client_secret for c in provider.clients.values() if c.client_secret]
    assert len(secrets) == 3
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM identities_upstreamconnection")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM identities_upstreamoauthclient")
        rows += cursor.fetchall()
    assert len(rows) == 2
    stored = " ".join(str(value) for row in rows for value in row)
    for secret in secrets:
        assert secret not in stored
    assert accounts.connection_of(bob).secret.startswith("f1:")


def test_a_pre_registered_client_is_used_instead_of_registering(accounts, bob, api):
    from mcp.shared.auth import OAuthClientInformationFull

    provider = accounts.upstream.provider
    provider.clients["pre-registered"] = OAuthClientInformationFull(
        client_id="pre-registered",
        client_secret="pre-secret",
        redirect_uris=[f"{accounts.deployment.base}/w/acme/connections/callback/"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_post",
        scope="mcp",
    )
    url = f"/api/v1/workspaces/acme/gateways/dev/assignments/{accounts.assignment.pk}/credentials/"
    body = {
        "shared": True,
        "kind": "oauth_client",
        "client_id": "pre-registered",
        "client_secret": "pre-secret",
        "auth_method": "client_secret_post",
    }
    answer = api.as_(accounts.deployment.alice).post(url, body, format="json")
    assert answer.status_code == 201, answer.content
    assert "pre-secret" not in str(answer.json())

    accounts.connect(bob)
    assert list(provider.clients) == ["pre-registered"]  # nothing registered dynamically
    assert accounts.upstream.token_requests[-1]["client_secret"] == "pre-secret"
    assert accounts.call(bob).content[0].text.startswith("bob|")


def test_a_client_entered_in_the_console_after_the_probe_is_used(accounts, alice, bob):
    from mcp.shared.auth import OAuthClientInformationFull

    base = accounts.deployment.base
    provider = accounts.upstream.provider
    provider.clients["by-hand"] = OAuthClientInformationFull(
        client_id="by-hand",
        client_secret="by-hand-secret",
        redirect_uris=[f"{base}/w/acme/connections/callback/"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        scope="mcp",
    )
    admin = Browser(base)
    admin.sign_in(alice.email)
    # The server page's "Probe again", then the assignment's connection form with the client.
    server_page = "/w/acme/servers/accounts/"
    probe = next(f for f in forms(admin.http.get(server_page).text) if "probe" in f["action"])
    assert admin.http.post(probe["action"], data=probe["fields"]).status_code == 302
    assert "OAuth, the platform registers itself" in admin.http.get(server_page).text
    page = f"/w/acme/gateways/dev/assignments/{accounts.assignment.pk}/"
    form = next(f for f in forms(admin.http.get(page).text) if f["action"] is None)
    saved = admin.http.post(
        page,
        data={
            **form["fields"],
            "namespace": "acct",
            "prefix_mode": "always",
            "identity_scheme": "user_oauth",
            "oauth_client_id": "by-hand",
            "oauth_client_secret": "by-hand-secret",
            "oauth_auth_method": "client_secret_basic",
        },
    )
    assert saved.status_code == 302, saved.text

    accounts.connect(bob)
    assert list(provider.clients) == ["by-hand"]  # nothing registered dynamically
    exchange = accounts.upstream.token_requests[-1]
    assert exchange["client_id"] == "by-hand" and "client_secret" not in exchange  # Basic
    assert accounts.call(bob).content[0].text.startswith("bob|")


def test_discovery_refuses_private_addresses_unless_allowed(accounts, settings):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    with pytest.raises(oauth_discovery.OAuthFailed, match="not an https URL"):
        oauth_discovery.discover(accounts.upstream.url)
    https_loopback = accounts.upstream.url.replace("http://", "https://")
    with pytest.raises(oauth_discovery.OAuthFailed, match="not a public address"):
        oauth_discovery.discover(https_loopback)


def test_a_refused_token_is_refreshed_when_the_tools_are_read_again(accounts, bob, settings):
    settings.MCP_CATALOG_TTL_SECONDS = 0  # every call reads the upstream's tools afresh
    accounts.connect(bob)
    first = accounts.call(bob).content[0].text
    accounts.upstream.revoke_access_tokens()
    second = accounts.call(bob)
    assert not second.is_error, second.content[0].text
    assert second.content[0].text.startswith("bob|") and second.content[0].text != first
    grants = [r["grant_type"] for r in accounts.upstream.token_requests]
    assert grants == ["authorization_code", "refresh_token"]
