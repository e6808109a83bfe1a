"""Console page of API tokens: create (secret shown once), list, revoke."""

from identities.models import ApiToken
from identities.selectors import active_token
from teams.capabilities import CLIENTS_MANAGE_TOKENS
from teams.models import Membership
from tests.support.console import text


def test_it_creates_a_token_and_shows_the_secret_once(as_, acme_gateway, bob):
    client = as_(bob)
    response = client.post(
        "/w/acme/tokens/", {"name": "laptop", "gateway": "dev", "expires_in": "30"}
    )
    assert response.status_code == 200
    secret = response.context["issued"].secret
    assert f'<code id="new-token" data-testid="new-token">{secret}</code>' in text(response)
    token = active_token(secret)
    assert token is not None and token.gateway == acme_gateway and token.user == bob
    assert token.expires_at is not None
    listing = text(client.get("/w/acme/tokens/"))
    assert secret not in listing and f"{token.prefix}…" in listing


def test_form_errors_are_shown(as_, acme_gateway, carol):
    client = as_(carol)
    missing = client.post("/w/acme/tokens/", {"name": ""})
    assert missing.status_code == 400 and "This field is required." in text(missing)
    # carol is not in a team the gateway is provisioned to: it is not a choice for her.
    hidden = client.post("/w/acme/tokens/", {"name": "x", "gateway": "dev"})
    assert hidden.status_code == 400 and "Select a valid choice" in text(hidden)
    assert not ApiToken.objects.filter(user=carol).exists()


def test_members_see_only_their_own_tokens(as_, acme_gateway, alice, bob):
    from identities.services import issue_token

    alice_m = Membership.objects.get(workspace=acme_gateway.workspace, user=alice)
    theirs = issue_token(membership=alice_m, name="alices", actor=alice).token
    page = text(as_(bob).get("/w/acme/tokens/"))
    assert "alices" not in page and "For member" not in page
    assert as_(bob).get(f"/w/acme/tokens/{theirs.pk}/revoke/").status_code == 404
    assert "alices" in text(as_(alice).get("/w/acme/tokens/"))


def test_issuing_for_someone_else_needs_manage_tokens(
    as_, console_as_dave_with, acme_gateway, alice
):
    client = console_as_dave_with({CLIENTS_MANAGE_TOKENS})
    response = client.post("/w/acme/tokens/", {"name": "ci", "user": "bob@acme.test"})
    assert response.status_code == 200
    assert response.context["issued"].token.user.email == "bob@acme.test"
    unknown = client.post("/w/acme/tokens/", {"name": "ci", "user": "nobody@acme.test"})
    assert unknown.status_code == 400
    assert "nobody@acme.test is not a member of this workspace." in text(unknown)


def test_revoking_asks_first(as_, acme_gateway, bob):
    client = as_(bob)
    secret = client.post("/w/acme/tokens/", {"name": "old"}).context["issued"].secret
    token = active_token(secret)
    assert "Revoke token" in text(client.get(f"/w/acme/tokens/{token.pk}/revoke/"))
    assert active_token(secret) is not None
    assert client.post(f"/w/acme/tokens/{token.pk}/revoke/").status_code == 302
    assert active_token(secret) is None
    assert "revoked" in text(client.get("/w/acme/tokens/"))


def test_another_workspaces_token_is_a_404(as_, acme, globex, alice, mallory):
    from identities.services import issue_token

    foreign = issue_token(
        membership=Membership.objects.get(workspace=globex, user=mallory), name="m", actor=mallory
    ).token
    assert as_(alice).get(f"/w/acme/tokens/{foreign.pk}/revoke/").status_code == 404


def test_it_issues_an_api_token_within_the_members_role(as_, console_as_dave_with, acme_gateway):
    client = console_as_dave_with({"servers.manage", "logs.view"})
    page = text(client.get("/w/acme/tokens/"))
    # Only what dave's role holds is offered as a scope.
    assert 'value="servers.manage"' in page and 'value="gateways.manage"' not in page
    body = {"name": "ci", "kind": "api", "scopes": ["read", "servers.manage"]}
    response = client.post("/w/acme/tokens/", body)
    assert response.status_code == 200
    token = active_token(response.context["issued"].secret)
    assert (token.kind, token.scopes, token.gateway) == ("api", ["read", "servers.manage"], None)
    listing = text(client.get("/w/acme/tokens/"))
    assert "<td>api</td>" in listing and "<code>servers.manage</code>" in listing

    wider = client.post("/w/acme/tokens/", {**body, "scopes": ["gateways.manage"]})
    assert wider.status_code == 400 and "Select a valid choice" in text(wider)
    none = client.post("/w/acme/tokens/", {"name": "ci", "kind": "api"})
    assert none.status_code == 400 and "An api token needs at least one scope" in text(none)
    with_gateway = client.post("/w/acme/tokens/", {**body, "gateway": "dev"})
    assert with_gateway.status_code == 400 and "only gateway tokens name a gateway" in text(
        with_gateway
    )
    assert ApiToken.objects.filter(user__email="dave@acme.test").count() == 1


def test_a_token_left_without_a_kind_is_a_gateway_token(as_, acme_gateway, bob):
    response = as_(bob).post("/w/acme/tokens/", {"name": "laptop", "gateway": "dev"})
    token = active_token(response.context["issued"].secret)
    assert (token.kind, token.scopes) == ("gateway", [])
    assert "<td>gateway</td>" in text(as_(bob).get("/w/acme/tokens/"))
