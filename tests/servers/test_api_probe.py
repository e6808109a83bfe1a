"""POST /servers/<name>/probe/: which identity a remote server needs, asked over a real socket
and kept on the server."""

from servers import services as server_services
from teams.capabilities import SERVERS_MANAGE, SERVERS_VIEW_ALL
from tests.support.api import error

W = "/api/v1/workspaces/acme"


def _add(acme, alice, name, url):
    return server_services.create_server(workspace=acme, name=name, url=url, actor=alice)


def test_it_proposes_user_oauth_with_a_client_to_register(
    api, acme, alice, private_oauth, oauth_preregistered_upstream
):
    upstream = oauth_preregistered_upstream
    _add(acme, alice, "accounts", upstream.url)
    client = api.as_(alice)
    response = client.post(f"{W}/servers/accounts/probe/")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["outcome"] == "oauth_preregistered"
    assert (answer["proposed_scheme"], answer["needs_client"]) == ("user_oauth", True)
    assert answer["redirect_uri"] == "http://testserver/w/acme/connections/callback/"
    assert answer["evidence"]["authorization_server"] == upstream.base
    assert answer["evidence"]["scopes_supported"] == ["mcp"]
    assert answer["evidence"]["registration_endpoint"] == ""
    assert answer["probed_at"]

    stored = client.get(f"{W}/servers/accounts/").json()
    assert stored["identity_probe"]["outcome"] == "oauth_preregistered"
    assert stored["identity_probed_at"] == answer["probed_at"]


def test_each_outcome_is_an_answer_never_a_server_error(
    api, acme, alice, private_oauth, oauth_dynamic_upstream, token_upstream, closed_url
):
    cases = {
        "dynamic": (oauth_dynamic_upstream.url, "oauth_dynamic", "user_oauth"),
        "token": (token_upstream.url, "header_token", "service_account"),
        "closed": (closed_url, "unreachable", ""),
        "dns": ("https://nowhere.invalid/mcp", "unreachable", ""),
    }
    client = api.as_(alice)
    for name, (url, outcome, scheme) in cases.items():
        _add(acme, alice, name, url)
        response = client.post(f"{W}/servers/{name}/probe/")
        assert response.status_code == 200, (name, response.content)
        answer = response.json()
        assert (answer["outcome"], answer["proposed_scheme"]) == (outcome, scheme), answer
        assert answer["message"]


def test_it_requires_the_capability_of_the_servers_kind(
    api_as_dave_with, api, acme, alice, token_upstream
):
    _add(acme, alice, "ids", token_upstream.url)
    assert api_as_dave_with({SERVERS_VIEW_ALL}).post(f"{W}/servers/ids/probe/").status_code == 403
    manager = api_as_dave_with({SERVERS_MANAGE, SERVERS_VIEW_ALL})
    assert manager.post(f"{W}/servers/ids/probe/").status_code == 200
    server_services.create_server(
        workspace=acme, name="fs", kind="managed", command="mcp-fs", actor=alice
    )
    # A managed server's writes need servers.deploy_managed, its probe too.
    refused = manager.post(f"{W}/servers/fs/probe/")
    assert refused.status_code == 403
    managed = api.as_(alice).post(f"{W}/servers/fs/probe/")
    assert managed.status_code == 400
    assert "Only remote servers are probed" in error(managed)["detail"]


def test_it_hides_other_workspaces(api, acme, alice, globex, mallory, token_upstream):
    _add(acme, alice, "ids", token_upstream.url)
    assert api.as_(mallory).post(f"{W}/servers/ids/probe/").status_code == 404
    assert api.as_(mallory).post("/api/v1/workspaces/globex/servers/ids/probe/").status_code == 404


def test_the_schema_documents_it(api, alice):
    document = (
        api.as_(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    )
    operation = document["paths"]["/api/v1/workspaces/{workspace}/servers/{name}/probe/"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ProbeOutput"}
    fields = document["components"]["schemas"]["ProbeOutput"]["properties"]
    assert {"outcome", "proposed_scheme", "needs_client", "redirect_uri", "evidence"} <= set(fields)
