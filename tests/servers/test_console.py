"""Console pages of servers: list with health, adding remote and managed, catalog, testing."""

from servers.models import Server
from teams.capabilities import SERVERS_DEPLOY_MANAGED, SERVERS_MANAGE
from tests.support.console import text

CATALOG = {
    "server_info": {"name": "notes", "version": "1.2"},
    "protocol_version": "2025-11-25",
    "tools": [{"name": "echo", "annotations": {"readOnlyHint": True}}],
    "prompts": [{"name": "greet", "description": "Greet someone."}],
    "resources": [{"uri": "notes://all", "name": "all_notes"}],
    "resource_templates": [],
}


def test_the_list_shows_health(as_, acme_server, alice):
    Server.objects.filter(pk=acme_server.pk).update(health="down")
    page = as_(alice).get("/w/acme/servers/")
    assert page.status_code == 200
    assert '<span class="badge down">Down</span>' in text(page)
    assert "Add remote server" in text(page) and "Add managed server" in text(page)


def test_it_adds_a_remote_server(as_, acme, alice):
    response = as_(alice).post(
        "/w/acme/servers/new/",
        {
            "kind": "remote",
            "name": "wiki",
            "url": "https://wiki.test/mcp",
            "transport": "streamable_http",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/w/acme/servers/wiki/"
    server = Server.objects.for_workspace(acme).get(name="wiki")
    assert (server.kind, server.url) == ("remote", "https://wiki.test/mcp")
    assert server.max_reply_bytes is None  # the platform's UPSTREAM_MAX_REPLY_BYTES


def test_a_server_added_in_the_console_may_set_its_reply_bound(as_, acme, alice):
    body = {"kind": "remote", "name": "wiki", "url": "https://wiki.test/mcp"}
    response = as_(alice).post(
        "/w/acme/servers/new/",
        {**body, "transport": "streamable_http", "max_reply_bytes": "65536"},
    )
    assert response.status_code == 302
    assert Server.objects.for_workspace(acme).get(name="wiki").max_reply_bytes == 65536


def test_it_shows_errors_on_the_fields(as_, acme_server, alice):
    client = as_(alice)
    bad = client.post(
        "/w/acme/servers/new/", {"kind": "remote", "name": "Bad Name", "url": "ftp://x"}
    )
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"name", "url", "transport"}
    taken = client.post(
        "/w/acme/servers/new/",
        {"kind": "remote", "name": "time", "url": "https://t.test/", "transport": "sse"},
    )
    assert taken.status_code == 400
    assert taken.context["form"].errors["name"] == ["A server named 'time' already exists."]


def test_a_managed_servers_env_values_are_never_shown_back(as_, acme, alice):
    client = as_(alice)
    data = {
        "kind": "managed",
        "name": "fs",
        "command": "npx",
        "args": "-y\n@modelcontextprotocol/server-filesystem\n/tmp",
        "env": "API_KEY=sup3r-s3cret\nREGION=eu",
    }
    invalid = client.post("/w/acme/servers/new/", {**data, "env": "API_KEY=sup3r-s3cret\noops"})
    assert invalid.status_code == 400
    assert "Line 2 is not NAME=value." in text(invalid)
    assert "sup3r-s3cret" not in text(invalid)
    response = client.post("/w/acme/servers/new/", data)
    assert response.status_code == 302
    server = Server.objects.for_workspace(acme).get(name="fs")
    assert server.args == ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
    assert server.env == {"API_KEY": "sup3r-s3cret", "REGION": "eu"}
    page = text(client.get("/w/acme/servers/fs/"))
    assert "API_KEY" in page and "REGION" in page and "sup3r-s3cret" not in page


def test_the_kind_decides_the_capability(console_as_dave_with, acme):
    client = console_as_dave_with({SERVERS_MANAGE})
    assert client.get("/w/acme/servers/new/?kind=remote").status_code == 200
    refused = client.post(
        "/w/acme/servers/new/", {"kind": "managed", "name": "fs", "command": "npx"}
    )
    assert refused.status_code == 403 and SERVERS_DEPLOY_MANAGED in text(refused)
    assert not Server.objects.filter(name="fs").exists()


def test_members_see_no_add_buttons_and_are_refused(as_, acme_gateway, bob):
    client = as_(bob)
    page = text(client.get("/w/acme/servers/"))
    assert "Add remote server" not in page and "Add managed server" not in page
    assert client.get("/w/acme/servers/new/").status_code == 403


def test_the_detail_shows_the_catalog(as_, acme_server, carol):
    Server.objects.filter(pk=acme_server.pk).update(catalog=CATALOG, health="up")
    page = as_(carol).get("/w/acme/servers/time/")
    assert page.status_code == 200
    body = text(page)
    assert "echo" in body and "greet" in body and "notes://all" in body
    assert "notes</strong> 1.2, protocol" in body
    # carol (auditor) sees every server but changes none.
    assert "Test connection" not in body and "Delete server" not in body


def test_test_connection_records_health(as_, notes_server, alice):
    response = as_(alice).post("/w/acme/servers/notes/refresh/", follow=True)
    assert response.status_code == 200
    assert "Connected to notes" in text(response)
    notes_server.refresh_from_db()
    assert notes_server.health == "up" and notes_server.catalog["tools"]


def test_test_connection_needs_the_kinds_capability(as_, acme_server, carol):
    assert as_(carol).post("/w/acme/servers/time/refresh/").status_code == 403


def test_servers_outside_the_members_gateways_are_404(as_, acme, acme_gateway, alice, bob):
    from servers import services

    services.create_server(workspace=acme, name="hidden", url="https://h.test/", actor=alice)
    assert as_(bob).get("/w/acme/servers/time/").status_code == 200
    assert as_(bob).get("/w/acme/servers/hidden/").status_code == 404


def test_other_workspaces_servers_are_404(as_, acme, globex_server, alice):
    assert as_(alice).get("/w/acme/servers/secret/").status_code == 404


def test_deleting_a_server_asks_first(as_, acme_server, alice):
    client = as_(alice)
    assert "Delete server" in text(client.get("/w/acme/servers/time/delete/"))
    assert Server.objects.filter(pk=acme_server.pk).exists()
    assert client.post("/w/acme/servers/time/delete/").status_code == 302
    assert not Server.objects.filter(pk=acme_server.pk).exists()
