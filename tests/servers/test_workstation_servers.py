"""Workstation servers through the API: a command or a URL on the connector's network, a scope,
the names of the variables they take from the workstation, and never env values; each refusal in
the one error shape, and writing them needs `servers.deploy_workstation`."""

import pytest

from servers.models import Server
from servers.services import create_server
from tests.support.api import error, refused_capability

W = "/api/v1/workspaces/acme"
FILES = {
    "name": "files",
    "kind": "workstation",
    "command": "npx",
    "args": ["-y", "@modelcontextprotocol/server-filesystem", "~/src"],
    "env_keys": ["GITHUB_TOKEN", "HOME_DIR"],
}


def test_a_stdio_workstation_server_round_trips(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}/servers/", FILES, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["transport"], body["scope"], body["env_keys"]) == (
        "stdio",
        "personal",
        ["GITHUB_TOKEN", "HOME_DIR"],
    )
    assert body["url"] == "" and body["env_names"] == []

    response = client.patch(
        f"{W}/servers/files/", {"scope": "shared", "env_keys": ["ROOT"]}, format="json"
    )
    assert response.status_code == 200, response.content
    server = Server.objects.for_workspace(acme).get(name="files")
    assert (server.scope, server.env_keys, server.command) == ("shared", ["ROOT"], "npx")
    assert client.get(f"{W}/servers/files/").json()["scope"] == "shared"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/mcp", "http://10.0.0.7/mcp", "https://wiki.corp.internal/mcp"]
)
def test_a_url_on_the_workstations_network_is_taken(api, acme, alice, url):
    # Resolved on the workstation, never by the platform: loopback and private are its norm.
    response = api.as_(alice).post(
        f"{W}/servers/", {"name": "lab", "kind": "workstation", "url": url}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["url"], body["transport"], body["command"]) == (url, "streamable_http", "")


CASES = [
    (
        "env values",
        {**FILES, "env": {"GITHUB_TOKEN": "ghp_secret"}},
        "env",
        "takes no env values from the platform",
    ),
    ("both", {**FILES, "url": "http://127.0.0.1/mcp"}, "url", "a command or relays to a URL"),
    ("neither", {"name": "files", "kind": "workstation"}, "command", "needs a command"),
    ("not http", {"name": "lab", "kind": "workstation", "url": "ftp://x"}, "url", "http(s)"),
    (
        "bad key",
        {**FILES, "env_keys": ["GOOD", "1BAD"]},
        "env_keys",
        "'1BAD' is not an environment variable name",
    ),
    (
        "key with =",
        {**FILES, "env_keys": ["A=b"]},
        "env_keys",
        "'A=b' is not an environment variable name",
    ),
    (
        "too many keys",
        {**FILES, "env_keys": [f"K{i}" for i in range(51)]},
        "env_keys",
        "at most 50 env_keys; 51 given",
    ),
    ("bad scope", {**FILES, "scope": "everyone"}, "scope", '"everyone" is not a valid choice.'),
    (
        "url with env_keys",
        {"name": "lab", "kind": "workstation", "url": "http://127.0.0.1/mcp", "env_keys": ["A"]},
        "env_keys",
        "reached by URL has no env_keys",
    ),
    (
        "escape in an argument",
        {**FILES, "args": ["--root", "/tmp\r\x1b[2Kharmless"]},
        "args",
        "may not hold control characters ('\\r' found)",
    ),
    (
        "newline in the command",
        {**FILES, "command": "npx\nsh"},
        "command",
        "may not hold control characters ('\\n' found)",
    ),
    (
        "bidi override in the url",
        {"name": "lab", "kind": "workstation", "url": "http://127.0.0.1/\u202emcp"},
        "url",
        "may not hold control characters ('\\u202e' found)",
    ),
    (
        "stdio with sse",
        {**FILES, "transport": "sse"},
        "transport",
        "with a command speaks stdio",
    ),
]


@pytest.mark.parametrize(
    ("body", "attr", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_definitions_are_refused_with_one_error(api, acme, alice, body, attr, words):
    response = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert response.status_code == 400, response.content
    refused = error(response)
    assert refused["attr"] == attr, refused
    assert words in refused["detail"], refused
    assert not Server.objects.for_workspace(acme).exists()


def test_the_env_refusal_names_env_keys(api, acme, alice):
    response = api.as_(alice).post(f"{W}/servers/", {**FILES, "env": {"A": "b"}}, format="json")
    assert "env_keys" in error(response)["detail"]


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"scope": "shared"}, "scope"),
        ({"env_keys": ["TOKEN"]}, "env_keys"),
    ],
)
def test_other_kinds_refuse_workstation_fields(api, acme, alice, body, attr):
    # Refused, not ignored: a field dropped in silence would read back unlike what was sent.
    response = api.as_(alice).post(
        f"{W}/servers/", {"name": "wiki", "url": "https://wiki.test/mcp", **body}, format="json"
    )
    assert response.status_code == 400
    refused = error(response)
    assert refused["attr"] == attr
    assert "Only workstation servers" in refused["detail"]
    # The default is what every remote server has, so a client echoing it back is not refused.
    response = api.as_(alice).post(
        f"{W}/servers/",
        {"name": "wiki", "url": "https://wiki.test/mcp", "scope": "personal", "env_keys": []},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_new_kind_starts_from_its_own_defaults(api, acme, alice):
    client = api.as_(alice)
    client.post(f"{W}/servers/", {**FILES, "scope": "shared"}, format="json")
    response = client.patch(
        f"{W}/servers/files/",
        {"kind": "remote", "url": "https://files.test/mcp", "command": "", "args": []},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["scope"], response.json()["env_keys"]) == ("personal", [])


def test_writing_a_workstation_server_needs_deploy_workstation(api_as_dave_with, acme, alice):
    create_server(workspace=acme, actor=alice, **FILES)
    create_server(workspace=acme, actor=alice, name="wiki", url="https://wiki.test/mcp")
    client = api_as_dave_with({"servers.view_all", "servers.manage", "servers.deploy_managed"})

    response = client.post(f"{W}/servers/", {**FILES, "name": "files2"}, format="json")
    assert response.status_code == 403
    assert refused_capability(response) == "servers.deploy_workstation"
    for method, body in (("patch", {"scope": "shared"}), ("delete", None)):
        response = getattr(client, method)(f"{W}/servers/files/", body, format="json")
        assert response.status_code == 403
        assert refused_capability(response) == "servers.deploy_workstation"
    # Nor can a remote server be turned into one.
    response = client.patch(
        f"{W}/servers/wiki/", {"kind": "workstation", "url": "http://127.0.0.1/mcp"}, format="json"
    )
    assert response.status_code == 403
    assert refused_capability(response) == "servers.deploy_workstation"
    assert Server.objects.for_workspace(acme).get(name="files").scope == "personal"
    assert Server.objects.for_workspace(acme).get(name="wiki").kind == "remote"

    allowed = api_as_dave_with({"servers.deploy_workstation"})
    response = allowed.post(f"{W}/servers/", {**FILES, "name": "files2"}, format="json")
    assert response.status_code == 201, response.content


def test_the_schema_documents_scope_and_env_keys(api, acme, alice):
    schema = api.as_(alice).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert {"scope", "env_keys"} <= set(components["ServerOutput"]["properties"])
    created = components["ServerCreateInput"]["properties"]
    assert "at most 50" in created["env_keys"]["description"]
    assert "personal" in created["scope"]["description"]
    assert "workstation" in created["url"]["description"]
