"""The server endpoints."""

from servers.models import Server

W = "/api/v1/workspaces/acme"


def test_remote_servers_can_be_created_listed_updated_and_deleted(api, acme, alice):
    client = api.as_(alice)
    body = {"name": "wiki", "url": "https://wiki.test/mcp", "description": "Docs"}
    response = client.post(f"{W}/servers/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["transport"] == "streamable_http"
    assert [s["name"] for s in client.get(f"{W}/servers/").json()["results"]] == ["wiki"]

    response = client.patch(
        f"{W}/servers/wiki/", {"url": "https://wiki.test/sse", "transport": "sse"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["url"], response.json()["transport"]) == (
        "https://wiki.test/sse",
        "sse",
    )
    assert client.delete(f"{W}/servers/wiki/").status_code == 204
    assert not Server.objects.for_workspace(acme).exists()


def test_a_bad_url_is_refused(api, acme, alice):
    response = api.as_(alice).post(
        f"{W}/servers/", {"name": "wiki", "url": "ftp://wiki.test"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "'ftp://wiki.test' is not an http(s) URL.", "field": "url"}


def test_bad_names_kinds_and_duplicates_are_refused(api, acme, alice, acme_server):
    client = api.as_(alice)
    response = client.post(
        f"{W}/servers/", {"name": "Bad Name", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()
    response = client.post(
        f"{W}/servers/", {"name": "x", "kind": "quantum", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 400
    assert "kind" in response.json()
    response = client.post(
        f"{W}/servers/", {"name": "time", "url": "https://x.test"}, format="json"
    )
    assert response.status_code == 409
    response = client.post(f"{W}/servers/", {"name": "fs", "kind": "managed"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "A managed server needs a command."


def test_managed_servers_show_env_names_but_never_values(api, acme, alice):
    body = {"name": "fs", "kind": "managed", "command": "mcp-fs", "env": {"API_KEY": "s3cret"}}
    response = api.as_(alice).post(f"{W}/servers/", body, format="json")
    assert response.status_code == 201
    assert response.json()["env_names"] == ["API_KEY"]
    assert b"s3cret" not in api.get(f"{W}/servers/fs/").content


def test_changing_a_servers_kind_needs_the_new_kinds_capability(as_dave_with, acme, alice):
    from teams.capabilities import SERVERS_DEPLOY_MANAGED, SERVERS_MANAGE, SERVERS_VIEW_ALL

    Server.objects.create(workspace=acme, name="wiki", url="https://wiki.test/mcp")
    client = as_dave_with({SERVERS_MANAGE, SERVERS_VIEW_ALL})
    body = {"kind": "managed", "url": "", "command": "mcp-wiki"}
    response = client.patch(f"{W}/servers/wiki/", body, format="json")
    assert response.status_code == 403
    assert response.json()["capability"] == SERVERS_DEPLOY_MANAGED
    client = as_dave_with({SERVERS_MANAGE, SERVERS_DEPLOY_MANAGED, SERVERS_VIEW_ALL})
    response = client.patch(f"{W}/servers/wiki/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "managed"
