"""Token kinds and scopes on the management API: a gateway token is no API credential, an api
token does what its scopes and its owner's role both allow, and minting never widens either."""

import pytest

from gateways import services as gateway_services
from identities.models import ApiToken
from identities.services import issue_token
from teams.models import Membership
from tests.support.api import bearer, error, refused_capability, refused_scope
from tests.support.oauth_apps import oauth_app

W = "/api/v1/workspaces/acme"
NEW_GATEWAY = {"slug": "x", "name": "X"}
NEW_SERVER = {"name": "wiki", "kind": "remote", "url": "https://wiki.example.com/mcp"}


@pytest.fixture
def owner_gateway_token(acme, alice, acme_gateway, run):
    """What an owner pastes into a client configuration: `issue_token --gateway dev`."""
    gateway_services.create_gateway(workspace=acme, slug="other", name="Other", actor=alice)
    out = run("issue_token", "--workspace=acme", "--user=alice@acme.test", "--gateway=dev")
    return out.strip().splitlines()[-1]


def test_a_gateway_token_cannot_create_a_gateway(api, owner_gateway_token):
    response = api.post(f"{W}/gateways/", NEW_GATEWAY, format="json", **bearer(owner_gateway_token))
    assert response.status_code == 403, response.content
    assert "api tokens only" in error(response)["detail"]
    assert not ApiToken.objects.filter(kind="api").exists()


def test_a_gateway_token_cannot_export_another_gateways_logs(api, owner_gateway_token):
    response = api.get(f"{W}/logs/export/?gateway=other", **bearer(owner_gateway_token))
    assert response.status_code == 403, response.content


def test_a_gateway_token_cannot_mint_tokens(api, owner_gateway_token):
    response = api.post(
        f"{W}/tokens/", {"name": "everywhere"}, format="json", **bearer(owner_gateway_token)
    )
    assert response.status_code == 403, response.content
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("kind", ["connector", "scim"])
def test_connector_and_scim_tokens_open_nothing_on_the_api(api, acme, alice, kind):
    membership = Membership.objects.get(workspace=acme, user=alice)
    secret = issue_token(membership=membership, name=kind, actor=alice, kind=kind).secret
    response = api.get(f"{W}/gateways/", **bearer(secret))
    assert response.status_code == 403
    assert error(response)["detail"] == (
        f"This is a {kind} token; the management API takes api tokens only."
    )


def test_an_oauth_access_token_is_no_api_credential(api, acme, bob, acme_gateway):
    app = oauth_app(bob)
    secret = app.accesstoken_set.get().token
    assert secret.startswith("gto_")
    assert api.get(f"{W}/gateways/", **bearer(secret)).status_code == 401


def test_a_read_token_reads_but_never_writes(api, acme, alice, acme_gateway, api_token_for):
    secret = api_token_for(acme, alice, "read")
    assert api.get(f"{W}/gateways/", **bearer(secret)).status_code == 200
    assert api.get(f"{W}/logs/", **bearer(secret)).status_code == 200
    response = api.post(f"{W}/gateways/", NEW_GATEWAY, format="json", **bearer(secret))
    assert response.status_code == 403
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "scope_required",
                "detail": (
                    "This token's scopes do not include 'gateways.manage', which this action needs."
                ),
                "attr": None,
            }
        ],
    }
    response = api.patch(f"{W}/", {"name": "Renamed"}, format="json", **bearer(secret))
    assert response.status_code == 403
    # A write any member may do on their own objects is still a write.
    response = api.post(f"{W}/servers/", NEW_SERVER, format="json", **bearer(secret))
    assert response.status_code == 403
    acme.refresh_from_db()
    assert acme.name == "Acme"


def test_a_servers_token_cannot_touch_gateways(api, acme, alice, acme_gateway, api_token_for):
    secret = api_token_for(acme, alice, "servers.manage")
    response = api.post(f"{W}/servers/", NEW_SERVER, format="json", **bearer(secret))
    assert response.status_code == 201, response.content
    for method, url, body in [
        ("post", f"{W}/gateways/", NEW_GATEWAY),
        ("patch", f"{W}/gateways/dev/", {"name": "Renamed"}),
        ("delete", f"{W}/gateways/dev/", None),
        ("put", f"{W}/gateways/dev/teams/", {"teams": []}),
        ("post", f"{W}/gateways/dev/assignments/", {"server": "wiki", "namespace": "wiki"}),
    ]:
        response = getattr(api, method)(url, body, format="json", **bearer(secret))
        assert response.status_code == 403, (method, url, response.content)
    # Without `read`, it reads only what needs no capability.
    assert api.get(f"{W}/logs/", **bearer(secret)).status_code == 403
    acme_gateway.refresh_from_db()
    assert acme_gateway.name == "Developer tools"


def test_a_scope_is_lost_when_the_owners_role_loses_it(api, acme, dave_with, api_token_for):
    dave = dave_with({"servers.manage"})
    secret = api_token_for(acme, dave, "servers.manage")
    response = api.post(f"{W}/servers/", NEW_SERVER, format="json", **bearer(secret))
    assert response.status_code == 201, response.content

    dave_with(set())
    body = {**NEW_SERVER, "name": "wiki2"}
    response = api.post(f"{W}/servers/", body, format="json", **bearer(secret))
    assert response.status_code == 403
    assert "no scope but 'read' that its owner's role still has" in error(response)["detail"]

    dave_with({"servers.manage"})
    response = api.post(f"{W}/servers/", body, format="json", **bearer(secret))
    assert response.status_code == 201


def test_a_read_scope_reads_only_what_the_role_can(api, acme, bob, api_token_for):
    secret = api_token_for(acme, bob, "read")
    assert api.get(f"{W}/gateways/", **bearer(secret)).status_code == 200
    response = api.get(f"{W}/logs/", **bearer(secret))
    assert response.status_code == 403
    assert refused_capability(response) == "logs.view"


def test_minting_needs_the_token_managing_scope(api, acme, alice, api_token_for):
    secret = api_token_for(acme, alice, "read", "servers.manage")
    body = {"name": "more", "kind": "api", "scopes": ["read"]}
    response = api.post(f"{W}/tokens/", body, format="json", **bearer(secret))
    assert response.status_code == 403
    assert refused_scope(response) == "clients.manage_tokens"


def test_a_token_cannot_mint_scopes_it_does_not_hold(api, acme, alice, api_token_for):
    secret = api_token_for(acme, alice, "clients.manage_tokens", "read")
    body = {"name": "wider", "kind": "api", "scopes": ["read", "servers.manage"]}
    response = api.post(f"{W}/tokens/", body, format="json", **bearer(secret))
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "A token cannot carry scopes its issuer does not hold: servers.manage.",
        "attr": "scopes",
    }
    body = {"name": "same", "kind": "api", "scopes": ["read"]}
    response = api.post(f"{W}/tokens/", body, format="json", **bearer(secret))
    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["scopes"]) == ("api", ["read"])


def test_a_session_cannot_mint_scopes_beyond_a_role(api, acme, alice, bob, acme_gateway):
    body = {"name": "mine", "kind": "api", "scopes": ["servers.manage"]}
    response = api.as_(bob).post(f"{W}/tokens/", body, format="json")
    assert response.status_code == 400
    assert error(response)["detail"] == "The role of bob@acme.test does not have: servers.manage."
    # Nor may an owner give a member's token what the member's role lacks.
    body = {**body, "user": "bob@acme.test"}
    response = api.as_(alice).post(f"{W}/tokens/", body, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "scopes"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "api"}, "scopes", "An api token needs at least one scope"),
        ({"kind": "api", "scopes": ["root"]}, "scopes", "Unknown scope: root."),
        ({"kind": "api", "scopes": ["read"], "gateway": "dev"}, "gateway", "only gateway tokens"),
        ({"kind": "gateway", "scopes": ["read"]}, "scopes", "Only api tokens carry scopes"),
    ],
)
def test_token_kinds_and_scopes_are_checked(api, acme, alice, acme_gateway, body, field, message):
    response = api.as_(alice).post(f"{W}/tokens/", {"name": "x", **body}, format="json")
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == field
    assert message in error(response)["detail"]
    assert not ApiToken.objects.exists()


def test_scim_tokens_are_not_minted_here(api, acme, alice):
    response = api.as_(alice).post(f"{W}/tokens/", {"name": "x", "kind": "scim"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "kind"


def test_the_api_shows_each_tokens_kind_and_scopes(api, acme, alice, api_token_for, token_for):
    api_token_for(acme, alice, "read", "logs.export")
    token_for(acme, alice)
    listed = api.as_(alice).get(f"{W}/tokens/").json()["results"]
    assert [(t["kind"], t["scopes"]) for t in listed] == [
        ("gateway", []),
        ("api", ["logs.export", "read"]),
    ]
