"""Step-up through the gateway: an upstream that refuses a tool for want of scope (403
`insufficient_scope`, tests/identities/oauth_upstream.py's `audit_log` needs `mcp:admin`) is
not retried; the person's connection records the scope and asks for more consent, the caller
gets the link to reconnect, and reconnecting asks for the granted and the wanted scopes."""

import pytest
from mcp.shared.exceptions import MCPError

from core import crypto
from gateways import services as gateway_services
from teams.models import ConfigChange


async def _never(context, params):  # the answer is an error to act on, never a request
    raise AssertionError("no elicitation request expected")


def test_a_call_needing_more_scope_asks_to_reconnect_then_succeeds(accounts, bob):
    browser = accounts.connect(bob)
    assert accounts.upstream.authorize_requests[-1]["scope"] == "mcp"

    refused = accounts.call(bob, "acct__audit_log")
    assert refused.is_error
    text = refused.content[0].text
    assert "needs more access than your connection grants (scope: mcp mcp:admin)" in text
    assert "/w/acme/connections/" in text
    assert accounts.upstream.scope_refusals == 1  # asked once, never retried in a loop
    connection = accounts.connection_of(bob)
    assert connection.wanted_scope == "mcp mcp:admin"
    assert connection.status == connection.Status.CONNECTED
    assert "needs more access" in browser.http.get(accounts.page).text
    # A client that supports URL-mode elicitation is asked to open the page instead.
    with pytest.raises(MCPError) as asked:
        accounts.call(bob, "acct__audit_log", elicitation_callback=_never)
    (request,) = asked.value.error.data["elicitations"]
    assert request["mode"] == "url"
    assert request["url"] == f"{accounts.deployment.base}/w/acme/connections/"
    assert "needs more access" in request["message"]
    # The tools the connection does grant keep working meanwhile.
    assert accounts.call(bob).content[0].text.startswith("bob|")

    # Asked again, it answers the same; the connection is marked once.
    assert accounts.call(bob, "acct__audit_log").is_error
    assert accounts.upstream.scope_refusals == 3
    (change,) = ConfigChange.objects.filter(action="connection.needs_consent")
    assert change.detail["scope"] == "mcp mcp:admin" and change.detail["owner"] == bob.email

    accounts.connect(bob)
    assert accounts.upstream.authorize_requests[-1]["scope"] == "mcp mcp:admin"
    granted = accounts.call(bob, "acct__audit_log")
    assert not granted.is_error, granted.content[0].text
    assert granted.content[0].text == "audit log for bob"
    connection = accounts.connection_of(bob)
    assert connection.wanted_scope == "" and connection.scope == "mcp mcp:admin"
    assert accounts.upstream.scope_refusals == 3


def test_a_shared_credential_lacking_scope_is_reported_not_reconnected(accounts, alice, api):
    accounts.connect(alice)
    token = crypto.decrypt(accounts.connection_of(alice).secret)["access_token"]
    gateway_services.update_assignment(
        assignment=accounts.assignment, identity_scheme="service_account", actor=alice
    )
    url = f"/api/v1/workspaces/acme/gateways/dev/assignments/{accounts.assignment.pk}/credentials/"
    body = {"shared": True, "kind": "bearer", "token": token}
    assert api.as_(alice).post(url, body, format="json").status_code == 201

    refused = accounts.call(alice, "acct__audit_log")
    assert refused.is_error
    text = refused.content[0].text
    assert "the credential this gateway presents to it lacks the access" in text
    assert "(scope: mcp mcp:admin)" in text
    assert not ConfigChange.objects.filter(action="connection.needs_consent").exists()
