"""The identity probe in the console: adding a remote server probes it and its page shows the
proposal with the evidence, "Probe again" probes anew, and assigning it to a gateway starts from
the proposed scheme, with the pre-registered client's fields when the provider needs one."""

import re

import pytest

from core import crypto
from gateways import services as gateway_services
from gateways.models import Assignment
from identities.models import UpstreamCredential
from servers import services as server_services
from servers.models import Server
from teams.capabilities import SERVERS_VIEW_ALL
from tests.support.console import text

CALLBACK = "http://testserver/w/acme/connections/callback/"


@pytest.fixture
def gateway(acme, alice):
    return gateway_services.create_gateway(workspace=acme, slug="dev", name="Dev", actor=alice)


@pytest.fixture
def accounts(acme, alice, private_oauth, oauth_preregistered_upstream):
    """A server behind an authorization server without dynamic registration, probed."""
    server = server_services.create_server(
        workspace=acme, name="accounts", url=oauth_preregistered_upstream.url, actor=alice
    )
    server_services.probe_identity(server=server)
    return server


def _selected(page: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


def test_adding_a_remote_server_probes_it_and_shows_the_proposal(as_, acme, alice, token_upstream):
    client = as_(alice)
    data = {"kind": "remote", "name": "ids", "url": token_upstream.url}
    response = client.post("/w/acme/servers/new/", {**data, "transport": "streamable_http"})
    assert response.status_code == 302 and response["Location"] == "/w/acme/servers/ids/"
    assert Server.objects.get(name="ids").identity_probe["outcome"] == "header_token"

    page = text(client.get("/w/acme/servers/ids/"))
    assert '<li class="info">A token or headers: The server refuses unauthenticated' in page
    assert "proposed identity <code>service_account</code> or <code>manual</code>" in page
    assert '<dt class="label">HTTP status</dt><dd><code>401</code></dd>' in page
    assert ">Probe again</button>" in page


def test_probe_again_records_what_the_server_says_now(as_, acme, alice, settings, accounts):
    client = as_(alice)
    page = text(client.get("/w/acme/servers/accounts/"))
    assert "OAuth, a client must be registered by hand" in page
    assert f"Register the client with the redirect URI <code>{CALLBACK}</code>" in page
    assert "Scopes supported</dt><dd><code>mcp</code>" in page

    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    response = client.post("/w/acme/servers/accounts/probe/")
    assert response.status_code == 302
    page = text(client.get("/w/acme/servers/accounts/"))
    assert "Not understood" in page and "UPSTREAM_OAUTH_ALLOW_PRIVATE" in page
    # A probe that learnt nothing is a warning, not a green notice.
    assert '<li class="warning">Not understood: ' in page
    assert Server.objects.get(pk=accounts.pk).identity_probe["outcome"] == "error"


def test_probing_needs_the_servers_capability(as_, console_as_dave_with, acme, bob, accounts):
    assert console_as_dave_with({SERVERS_VIEW_ALL}).post(
        "/w/acme/servers/accounts/probe/"
    ).status_code == (403)
    page = text(console_as_dave_with({SERVERS_VIEW_ALL}).get("/w/acme/servers/accounts/"))
    assert "OAuth, a client must be registered by hand" in page and "Probe again" not in page


def test_assigning_starts_from_the_proposed_scheme(as_, acme, alice, gateway, accounts):
    page = text(as_(alice).get("/w/acme/gateways/dev/?server=accounts"))
    assert _selected(page, "server") == "accounts"
    assert _selected(page, "identity_scheme") == "user_oauth"
    # The client fields are open, with the redirect URI to register the client with.
    assert '<details class="field" open>' in page
    assert f"redirect URI <code>{CALLBACK}</code>" in page
    assert 'name="oauth_client_secret"' in page
    # Choosing another server asks for the page again (htmx) and swaps in its proposal.
    assert 'hx-get="/w/acme/gateways/dev/"' in page and 'hx-select="#assign-identity"' in page


def test_a_pre_registered_client_is_entered_with_the_assignment(
    as_, acme, alice, gateway, accounts
):
    client = as_(alice)
    form = {
        "server": "accounts",
        "namespace": "acct",
        "prefix_mode": "always",
        "identity_scheme": "user_oauth",
        "oauth_client_id": "gatehouse-at-accounts",
        "oauth_client_secret": "a-very-secret-client-secret",
        "oauth_auth_method": "client_secret_post",
    }
    refused = client.post("/w/acme/gateways/dev/assignments/", {**form, "identity_scheme": "none"})
    assert refused.status_code == 400
    assert "A pre-registered client is only for" in text(refused)
    assert "a-very-secret-client-secret" not in text(refused)
    assert not Assignment.objects.exists()

    response = client.post("/w/acme/gateways/dev/assignments/", form)
    assert response.status_code == 302, text(response)
    assignment = Assignment.objects.get(gateway=gateway, server=accounts)
    assert assignment.identity_scheme == "user_oauth"
    credential = UpstreamCredential.objects.get(assignment=assignment, owner=None)
    assert credential.kind == "oauth_client"
    assert credential.details == {
        "client_id": "gatehouse-at-accounts",
        "auth_method": "client_secret_post",
    }
    assert "a-very-secret-client-secret" not in credential.secret
    assert crypto.decrypt(credential.secret) == {"client_secret": "a-very-secret-client-secret"}

    page = text(client.get(response["Location"]))
    assert "gatehouse-at-accounts" in page and "a-very-secret-client-secret" not in page


def test_the_client_can_be_set_on_the_assignment_page(as_, acme, alice, gateway, accounts):
    assignment = gateway_services.assign_server(
        gateway=gateway, server=accounts, namespace="acct", actor=alice
    )
    url = f"/w/acme/gateways/dev/assignments/{assignment.pk}/"
    client = as_(alice)
    form = {"namespace": "acct", "prefix_mode": "always", "identity_scheme": "user_oauth"}
    secret_without_id = client.post(url, {**form, "oauth_client_secret": "orphan-secret"})
    assert secret_without_id.status_code == 400
    assert "Enter the client ID the secret belongs to." in text(secret_without_id)

    response = client.post(url, {**form, "oauth_client_id": "public-client"})
    assert response.status_code == 302
    credential = UpstreamCredential.objects.get(assignment=assignment, owner=None)
    assert credential.details == {"client_id": "public-client", "auth_method": "none"}
    page = text(client.get(url))
    assert "(set: public-client, public)" in page
    assert '<details class="field" open>' in page
