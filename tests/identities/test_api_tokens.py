"""The API token endpoints, and tokens as the credential of the API itself."""

from datetime import timedelta

from django.utils import timezone

from gateways import services as gateway_services
from identities.models import ApiToken
from tests.support.api import bearer, error

W = "/api/v1/workspaces/acme"


def test_the_secret_is_shown_once(api, acme, bob, acme_gateway):
    client = api.as_(bob)
    response = client.post(f"{W}/tokens/", {"name": "laptop", "gateway": "dev"}, format="json")
    assert response.status_code == 201, response.content
    issued = response.json()
    secret = issued["secret"]
    assert secret.startswith("gth_")
    assert secret.startswith(issued["prefix"])
    assert (issued["user"], issued["gateway"], issued["active"]) == ("bob@acme.test", "dev", True)

    listed = client.get(f"{W}/tokens/")
    assert listed.json()["results"][0]["prefix"] == issued["prefix"]
    assert "secret" not in listed.json()["results"][0]
    assert secret.encode() not in listed.content
    detail = client.get(f"{W}/tokens/{issued['id']}/")
    assert secret.encode() not in detail.content
    assert not ApiToken.objects.filter(digest__contains=secret[4:20]).exists()


def test_a_token_authenticates_until_it_is_revoked(api, acme, alice):
    body = {"name": "ci", "kind": "api", "scopes": ["clients.manage_tokens"]}
    issued = api.as_(alice).post(f"{W}/tokens/", body, format="json").json()
    assert (issued["kind"], issued["scopes"]) == ("api", ["clients.manage_tokens"])
    api.force_authenticate(user=None)
    assert api.get(f"{W}/tokens/", **bearer(issued["secret"])).status_code == 200

    response = api.post(f"{W}/tokens/{issued['id']}/revoke/", **bearer(issued["secret"]))
    assert response.status_code == 200
    assert response.json()["active"] is False
    response = api.get(f"{W}/tokens/", **bearer(issued["secret"]))
    assert response.status_code == 401
    assert error(response)["detail"] == "Invalid, expired or revoked token."


def test_an_expired_token_is_refused(api, acme, bob):
    soon = timezone.now() + timedelta(hours=1)
    body = {"name": "short", "kind": "api", "scopes": ["read"], "expires_at": soon.isoformat()}
    issued = api.as_(bob).post(f"{W}/tokens/", body, format="json").json()
    api.force_authenticate(user=None)
    assert api.get(f"{W}/tokens/", **bearer(issued["secret"])).status_code == 200
    # The hour passes.
    ApiToken.objects.filter(pk=issued["id"]).update(expires_at=timezone.now() - timedelta(1))
    assert api.get(f"{W}/tokens/", **bearer(issued["secret"])).status_code == 401


def test_malformed_tokens_are_refused(api, acme):
    assert api.get(f"{W}/tokens/", HTTP_AUTHORIZATION="Bearer gth_nope").status_code == 401


def test_token_input_is_checked(api, acme, alice, bob, acme_gateway):
    client = api.as_(bob)
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client.post(f"{W}/tokens/", {"name": "x", "expires_at": past}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "expires_at"
    response = client.post(f"{W}/tokens/", {"name": "x", "expires_at": "soon"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "expires_at"
    response = client.post(f"{W}/tokens/", {"name": ""}, format="json")
    assert response.status_code == 400
    gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)
    # Bob cannot use `ops` (not provisioned to his team), so no token of his may name it.
    response = client.post(f"{W}/tokens/", {"name": "x", "gateway": "ops"}, format="json")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "Unknown gateway 'ops'.",
        "attr": "gateway",
    }


def test_tokens_for_other_members(api, acme, alice, bob, globex, mallory):
    client = api.as_(alice)
    response = client.post(f"{W}/tokens/", {"name": "bot", "user": "bob@acme.test"}, format="json")
    assert response.status_code == 201
    assert response.json()["user"] == "bob@acme.test"
    body = {"name": "bot", "user": "mallory@globex.test"}
    response = client.post(f"{W}/tokens/", body, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "user"
