"""Connectors: issuing connector tokens (console, API, command), who sees which connector, and
revoking one (its token revoked, an admin-log row, and `tunnel.revoke` sent to its channel)."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from identities import offboarding
from identities.models import ApiToken
from identities.selectors import active_token
from servers.models import Server
from servers.services import create_server
from teams.models import ConfigChange, Membership
from tests.support.api import bearer, error
from tests.support.channel_listener import listening_layer
from tests.support.connector_rows import connector_of, silent_since
from tests.support.console import text

W = "/api/v1/workspaces/acme"


async def _next_message(layer, channel, timeout=2.0):
    return await asyncio.wait_for(layer.receive(channel), timeout)


# -- issuing -----------------------------------------------------------------------------------


def test_the_api_issues_a_connector_token(api, acme, bob):
    response = api.as_(bob).post(
        f"{W}/tokens/", {"name": "laptop", "kind": "connector"}, format="json"
    )
    assert response.status_code == 201, response.content
    token = active_token(response.json()["secret"])
    assert (token.kind, token.user, token.scopes, token.gateway) == ("connector", bob, [], None)


@pytest.mark.parametrize(
    ("body", "attr", "words"),
    [
        ({"gateway": "dev"}, "gateway", "only gateway tokens name a gateway"),
        ({"scopes": ["read"]}, "scopes", "a connector token takes none"),
    ],
)
def test_a_connector_token_names_no_gateway_and_no_scope(
    api, acme, bob, acme_gateway, body, attr, words
):
    response = api.as_(bob).post(
        f"{W}/tokens/", {"name": "laptop", "kind": "connector", **body}, format="json"
    )
    assert response.status_code == 400
    refused = error(response)
    assert refused["attr"] == attr and words in refused["detail"], refused
    assert not ApiToken.objects.filter(kind="connector").exists()


def test_a_connector_token_opens_no_api(api, acme, bob):
    # Nor an MCP URL: tests/dataplane/test_endpoint.py tries every kind on a live gateway.
    secret = (
        api.as_(bob)
        .post(f"{W}/tokens/", {"name": "laptop", "kind": "connector"}, format="json")
        .json()["secret"]
    )
    api.force_authenticate(user=None)
    refused = api.get(f"{W}/connectors/", **bearer(secret))
    assert refused.status_code == 403
    assert "connector token" in error(refused)["detail"]


def test_the_console_issues_a_connector_token_and_shows_the_command(as_, acme, bob):
    client = as_(bob)
    assert "Connector: for gatehouse-connect" in text(client.get("/w/acme/tokens/"))
    response = client.post("/w/acme/tokens/", {"name": "laptop", "kind": "connector"})
    assert response.status_code == 200
    secret = response.context["issued"].secret
    assert active_token(secret).kind == "connector"
    page = text(response)
    assert f"gatehouse-connect --platform http://testserver --token {secret} --allow NAME" in page


def test_the_console_command_names_the_platform_url(as_, acme, bob, settings):
    settings.OAUTH_ISSUER = "https://gatehouse.example"
    response = as_(bob).post("/w/acme/tokens/", {"name": "laptop", "kind": "connector"})
    secret = response.context["issued"].secret
    page = text(response)
    assert f"gatehouse-connect --platform https://gatehouse.example --token {secret}" in page


def test_a_connector_token_is_issued_only_to_oneself(api, as_, acme, alice, bob):
    # alice may issue tokens for others, but a connector token receives its owner's calls.
    body = {"name": "laptop", "kind": "connector", "user": "bob@acme.test"}
    response = api.as_(alice).post(f"{W}/tokens/", body, format="json")
    assert response.status_code == 400
    refused = error(response)
    assert refused["attr"] == "user" and "only to yourself" in refused["detail"], refused
    page = as_(alice).post("/w/acme/tokens/", body)
    assert page.status_code == 400 and "only to yourself" in text(page)
    assert not ApiToken.objects.filter(kind="connector").exists()
    gateway = api.as_(alice).post(f"{W}/tokens/", {**body, "kind": "gateway"}, format="json")
    assert gateway.status_code == 201, gateway.content


def test_the_command_issues_a_connector_token(acme, bob, run):
    out = run("issue_token", "--workspace", "acme", "--user", "bob@acme.test", "--connector")
    secret = out.strip().splitlines()[-1]
    token = active_token(secret)
    assert (token.kind, token.user) == ("connector", bob)
    assert "gatehouse-connect" in out
    out = run(
        "issue_token", "--workspace", "acme", "--user", "bob@acme.test", "--kind", "connector"
    )
    assert active_token(out.strip().splitlines()[-1]).kind == "connector"


# -- listing -----------------------------------------------------------------------------------


def test_a_member_lists_only_their_own_connectors(api, acme, alice, bob, carol):
    mine = connector_of(acme, bob, host="bobs-laptop")
    connector_of(acme, alice, host="alices-laptop")
    listed = api.as_(bob).get(f"{W}/connectors/").json()["results"]
    assert [(c["id"], c["user"], c["host_name"], c["live"]) for c in listed] == [
        (mine.pk, "bob@acme.test", "bobs-laptop", True)
    ]
    theirs = api.as_(carol).get(f"{W}/connectors/").json()["results"]
    assert theirs == []


def test_servers_manage_lists_every_connector_filtered_by_server_and_liveness(
    api, acme, alice, bob
):
    live_files = connector_of(acme, bob, servers=["files", "notes"], host="a")
    connector_of(acme, bob, servers=["filesystem"], host="b")
    connector_of(acme, alice, servers=["files"], host="c", **silent_since(60))
    client = api.as_(alice)

    every = client.get(f"{W}/connectors/").json()["results"]
    assert sorted(c["host_name"] for c in every) == ["a", "b", "c"]
    serving = client.get(f"{W}/connectors/?server=files").json()["results"]
    assert sorted(c["host_name"] for c in serving) == ["a", "c"]
    live = client.get(f"{W}/connectors/?server=files&live=1").json()["results"]
    assert [c["id"] for c in live] == [live_files.pk]


def test_another_members_or_workspaces_connector_is_a_404(api, acme, globex, alice, bob, mallory):
    alices = connector_of(acme, alice)
    mallorys = connector_of(globex, mallory)
    client = api.as_(bob)
    for connector in (alices, mallorys):
        assert client.get(f"{W}/connectors/{connector.pk}/").status_code == 404
        assert client.post(f"{W}/connectors/{connector.pk}/revoke/").status_code == 404
    assert api.as_(alice).get(f"{W}/connectors/{mallorys.pk}/").status_code == 404
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()


# -- revoking ----------------------------------------------------------------------------------


def test_revoking_closes_the_connection_and_logs_it(
    api, acme, bob, django_capture_on_commit_callbacks
):
    layer = listening_layer()
    channel = async_to_sync(layer.new_channel)()
    connector = connector_of(acme, bob, host="bobs-laptop", channel_name=channel)
    cache.set(f"tok:{connector.token.digest}", "cached lookup")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_(bob).post(f"{W}/connectors/{connector.pk}/revoke/")

    assert response.status_code == 200, response.content
    assert response.json()["live"] is False
    connector.token.refresh_from_db()
    assert connector.token.revoked_at is not None
    assert cache.get(f"tok:{connector.token.digest}") is None
    assert async_to_sync(_next_message)(layer, channel) == {
        "type": "tunnel.revoke",
        "reason": "the connector's token was revoked",
    }
    change = ConfigChange.objects.for_workspace(acme).get(action="connector.revoked")
    assert (change.actor, change.detail["host"], change.detail["user"]) == (
        bob,
        "bobs-laptop",
        "bob@acme.test",
    )
    assert ConfigChange.objects.for_workspace(acme).filter(action="token.revoke").count() == 1
    # Again: nothing more to do, and nothing more logged.
    assert api.as_(bob).post(f"{W}/connectors/{connector.pk}/revoke/").status_code == 200
    assert ConfigChange.objects.for_workspace(acme).filter(action="connector.revoked").count() == 1


def test_revoking_a_connector_token_on_the_token_page_closes_its_connection(
    as_, acme, bob, django_capture_on_commit_callbacks
):
    layer = listening_layer()
    channel = async_to_sync(layer.new_channel)()
    connector = connector_of(acme, bob, channel_name=channel)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_(bob).post(f"/w/acme/tokens/{connector.token.pk}/revoke/")
    assert response.status_code == 302
    assert async_to_sync(_next_message)(layer, channel)["type"] == "tunnel.revoke"


def test_servers_manage_revokes_anyones_connector(as_, acme, alice, bob):
    connector = connector_of(acme, bob)
    client = as_(alice)
    assert "Revoke connector" in text(client.get(f"/w/acme/connectors/{connector.pk}/revoke/"))
    assert active_token_of(connector) is not None
    response = client.post(f"/w/acme/connectors/{connector.pk}/revoke/")
    assert response.status_code == 302
    connector.token.refresh_from_db()
    assert connector.token.revoked_at is not None
    change = ConfigChange.objects.for_workspace(acme).get(action="connector.revoked")
    assert change.actor == alice


def active_token_of(connector):
    connector.token.refresh_from_db()
    return connector.token if connector.token.is_active() else None


# -- console pages ---------------------------------------------------------------------------


def test_the_connectors_page_shows_a_member_their_own(as_, acme, alice, bob):
    connector_of(acme, bob, host="bobs-laptop", servers=["files"])
    connector_of(acme, alice, host="alices-laptop")
    page = text(as_(bob).get("/w/acme/connectors/"))
    assert "bobs-laptop" in page and "alices-laptop" not in page
    assert "Your connectors" in page
    assert 'href="/w/acme/connectors/"' in page  # in the navigation
    assert "gatehouse-connect --platform http://testserver --token" in page
    assert "Issue a connector token" in page
    admin = text(as_(alice).get("/w/acme/connectors/"))
    assert "bobs-laptop" in admin and "alices-laptop" in admin
    assert "Every connector of the workspace" in admin


def test_a_workstation_servers_page_lists_its_live_connectors(as_, acme, alice, bob):
    create_server(workspace=acme, name="files", kind="workstation", command="npx", actor=alice)
    connector_of(acme, bob, host="bobs-laptop", servers=["files"])
    connector_of(acme, bob, host="gone-laptop", servers=["files"], **silent_since(600))
    connector_of(acme, alice, host="other-server", servers=["notes"])
    page = text(as_(alice).get("/w/acme/servers/files/"))
    assert "Live connectors" in page
    assert "bobs-laptop" in page and "0.1.0" in page and "bob@acme.test" in page
    assert "gone-laptop" not in page and "other-server" not in page
    assert (
        "gatehouse-connect --platform http://testserver --token &lt;a connector token&gt; "
        "--allow files" in page
    )


def test_the_server_form_offers_workstation_only_with_the_capability(
    as_, console_as_dave_with, acme, alice
):
    page = text(as_(alice).get("/w/acme/servers/new/?kind=workstation"))
    assert 'name="env_keys"' in page and 'name="scope"' in page
    response = as_(alice).post(
        "/w/acme/servers/new/",
        {
            "kind": "workstation",
            "name": "files",
            "command": "npx",
            "args": "-y\n@modelcontextprotocol/server-filesystem",
            "env_keys": "GITHUB_TOKEN\nROOT",
            "scope": "shared",
        },
    )
    assert response.status_code == 302, text(response)
    server = Server.objects.for_workspace(acme).get(name="files")
    assert (server.kind, server.scope, server.env_keys) == (
        "workstation",
        "shared",
        ["GITHUB_TOKEN", "ROOT"],
    )
    refused = as_(alice).post(
        "/w/acme/servers/new/",
        {"kind": "workstation", "name": "lab", "env_keys": "1BAD", "command": "x"},
    )
    assert refused.status_code == 400
    assert "1BAD&#x27; is not an environment variable name" in text(refused)

    client = console_as_dave_with({"servers.manage"})
    assert "?kind=workstation" not in text(client.get("/w/acme/servers/new/"))
    assert client.get("/w/acme/servers/new/?kind=workstation").status_code == 403
    allowed = console_as_dave_with({"servers.deploy_workstation"})
    assert "?kind=workstation" in text(allowed.get("/w/acme/servers/new/?kind=workstation"))


def test_suspending_a_member_closes_their_connectors(acme, bob, django_capture_on_commit_callbacks):
    layer = listening_layer()
    channel = async_to_sync(layer.new_channel)()
    connector = connector_of(acme, bob, channel_name=channel)
    with django_capture_on_commit_callbacks(execute=True):
        offboarding.suspend_member(
            membership=Membership.objects.get(workspace=acme, user=bob), actor=None
        )
    connector.token.refresh_from_db()
    assert connector.token.revoked_at is not None
    assert async_to_sync(_next_message)(layer, channel)["type"] == "tunnel.revoke"
