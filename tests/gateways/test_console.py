"""Console pages of gateways: list, create, detail with client set-up, provisioning, removal."""

import json

from django.utils.html import escape

from gateways.models import Gateway
from teams.capabilities import GATEWAYS_MANAGE, GATEWAYS_PROVISION_TEAMS
from teams.models import ConfigChange
from tests.support.console import text

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_list_shows_gateways_with_their_server_counts(as_, acme_gateway, alice):
    page = as_(alice).get("/w/acme/gateways/")
    assert page.status_code == 200
    body = text(page)
    assert "Developer tools" in body and "/mcp/acme/dev" in body
    assert 'id="new-gateway"' in body


def test_it_creates_a_gateway(as_, acme, alice):
    response = as_(alice).post(
        "/w/acme/gateways/", {"slug": "support", "name": "Support", "description": ""}
    )
    assert response.status_code == 302
    assert response["Location"] == "/w/acme/gateways/support/"
    assert Gateway.objects.for_workspace(acme).filter(slug="support").exists()
    change = ConfigChange.objects.for_workspace(acme).get(action="gateway.create")
    assert change.actor == alice


def test_it_shows_validation_and_service_errors_on_the_fields(as_, acme_gateway, alice):
    client = as_(alice)
    bad = client.post("/w/acme/gateways/", {"slug": "Not A Slug", "name": ""})
    assert bad.status_code == 400
    assert "lowercase letters" in text(bad) and "This field is required." in text(bad)
    taken = client.post("/w/acme/gateways/", {"slug": "dev", "name": "Again"})
    assert taken.status_code == 400
    assert "A gateway with slug &#x27;dev&#x27; already exists." in text(taken)


def test_it_requires_gateways_manage_and_hides_the_form(as_, acme_gateway, bob):
    client = as_(bob)
    assert 'id="new-gateway"' not in text(client.get("/w/acme/gateways/"))
    response = client.post("/w/acme/gateways/", {"slug": "x", "name": "X"})
    assert response.status_code == 403
    assert GATEWAYS_MANAGE in text(response)
    assert not Gateway.objects.filter(slug="x").exists()


def test_the_detail_has_the_url_and_client_set_up(as_, acme_gateway, bob):
    page = as_(bob).get("/w/acme/gateways/dev/")
    assert page.status_code == 200
    body = text(page)
    url = "http://testserver/mcp/acme/dev"
    assert f'<code id="gateway-url" data-testid="gateway-url">{url}</code>' in body
    assert "claude mcp add --transport http gatehouse-dev " + url in body
    assert "npx @modelcontextprotocol/inspector --cli " + url + " --transport http" in body
    setups = page.context["client_setups"]
    for setup in setups:
        assert f"<summary>{setup.client}</summary>" in body
        # OAuth first, then the token variant.
        ids = [f'id="snippet-{setup.key}-{kind}"' for kind, _ in setup.variants]
        positions = [body.index(i) for i in ids]
        assert positions == sorted(positions), setup.key
    for group in ("Chat apps", "Editors", "Command line", "Code"):
        assert f'<h3 class="snippet-group">{group}</h3>' in body
    cursor = next(s for s in setups if s.key == "cursor")
    assert json.loads(cursor.oauth.text) == {"mcpServers": {"gatehouse-dev": {"url": url}}}
    # Install links are plain links (buttons without JavaScript), escaped in the attribute.
    assert f'href="{escape(cursor.install_link)}"' in body and "Install in Cursor" in body
    vscode = next(s for s in setups if s.key == "vscode")
    assert f'href="{escape(vscode.install_link)}"' in body and "Install in VS Code" in body
    # The page names the variable token variants read; no token is on the page.
    assert "<code>GATEHOUSE_TOKEN</code>" in body and "gth_" not in body
    # bob is a plain member: no edit controls.
    assert "Add a server" not in body and "Save teams" not in body
    assert "Delete gateway" not in body


def test_a_gateway_not_provisioned_to_the_member_is_a_404(as_, acme_gateway, alice, carol):
    assert as_(carol).get("/w/acme/gateways/dev/").status_code == 404


def test_other_workspaces_gateways_are_404(as_, acme, globex_gateway, alice):
    assert as_(alice).get("/w/acme/gateways/prod/").status_code == 404
    assert as_(alice).get("/w/globex/gateways/prod/").status_code == 404


def test_it_provisions_teams_with_htmx_and_without(as_, acme_gateway, acme, alice):
    from teams import services

    services.create_team(workspace=acme, slug="ops", name="Operations", actor=alice)
    client = as_(alice)
    partial = client.post("/w/acme/gateways/dev/teams/", {"teams": ["eng", "ops"]}, **HTMX)
    assert partial.status_code == 200
    assert "<html" not in text(partial) and "Saved" in text(partial)
    assert sorted(t.slug for t in acme_gateway.teams.all()) == ["eng", "ops"]
    plain = client.post("/w/acme/gateways/dev/teams/", {"teams": ["ops"]})
    assert plain.status_code == 302
    assert [t.slug for t in acme_gateway.teams.all()] == ["ops"]
    unknown = client.post("/w/acme/gateways/dev/teams/", {"teams": ["nope"]}, **HTMX)
    assert unknown.status_code == 400 and "Select a valid choice" in text(unknown)


def test_provisioning_requires_its_capability(console_as_dave_with, acme_gateway):
    client = console_as_dave_with({GATEWAYS_MANAGE})
    assert "Save teams" not in text(client.get("/w/acme/gateways/dev/"))
    response = client.post("/w/acme/gateways/dev/teams/", {"teams": []})
    assert response.status_code == 403 and GATEWAYS_PROVISION_TEAMS in text(response)
    assert [t.slug for t in acme_gateway.teams.all()] == ["eng"]


def test_deleting_a_gateway_asks_first(as_, acme_gateway, alice, bob):
    client = as_(alice)
    confirm = client.get("/w/acme/gateways/dev/delete/")
    assert confirm.status_code == 200 and "Delete gateway" in text(confirm)
    assert Gateway.objects.filter(pk=acme_gateway.pk).exists()
    assert as_(bob).post("/w/acme/gateways/dev/delete/").status_code == 403
    response = client.post("/w/acme/gateways/dev/delete/")
    assert response.status_code == 302
    assert not Gateway.objects.filter(pk=acme_gateway.pk).exists()
