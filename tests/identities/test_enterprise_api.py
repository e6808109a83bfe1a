"""The management API of trusted identity providers and headless clients."""

import pytest

from identities.models import HeadlessClient, TrustedIdp
from teams.capabilities import CLIENTS_MANAGE_TOKENS, WORKSPACE_MANAGE

W = "/api/v1/workspaces/acme"
IDP = {"issuer": "https://idp.acme.example", "jwks_url": "https://idp.acme.example/jwks"}


@pytest.fixture(autouse=True)
def _public_resolver(monkeypatch):
    # The JWKS URL is checked against the SSRF rule when saved; idp.acme.example resolves
    # nowhere here, so it is answered with a public address.
    from core import outbound_http

    monkeypatch.setattr(outbound_http, "resolve", lambda host, port, **kw: ["93.184.216.34"])


def test_it_trusts_changes_and_forgets_an_idp(api, acme, alice):
    client = api.as_(alice)
    created = client.post(f"{W}/trusted-idps/", IDP, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["issuer"] == IDP["issuer"] and body["enabled"] and body["audience"] == ""
    url = f"{W}/trusted-idps/{body['id']}/"
    changed = client.patch(url, {"enabled": False, "audience": "urn:gh"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["enabled"] is False and changed.json()["audience"] == "urn:gh"
    assert client.get(f"{W}/trusted-idps/").json()["count"] == 1
    assert client.delete(url).status_code == 204
    assert not TrustedIdp.objects.exists()
    actions = list(acme.changes.values_list("action", flat=True))
    assert {"trusted_idp.create", "trusted_idp.update", "trusted_idp.delete"} <= set(actions)


def test_bad_input_is_a_400_and_a_second_issuer_a_409(api, acme, alice):
    client = api.as_(alice)
    for body in (
        {"issuer": "not a url", "jwks_url": IDP["jwks_url"]},
        {"issuer": IDP["issuer"], "jwks_url": "ftp://idp/keys"},
        {"issuer": IDP["issuer"]},
    ):
        assert client.post(f"{W}/trusted-idps/", body, format="json").status_code == 400
    assert client.post(f"{W}/trusted-idps/", IDP, format="json").status_code == 201
    assert client.post(f"{W}/trusted-idps/", IDP, format="json").status_code == 409


def test_a_jwks_url_on_a_private_address_is_refused(api, acme, alice, monkeypatch):
    monkeypatch.undo()
    body = {**IDP, "jwks_url": "https://10.0.0.1/jwks"}
    response = api.as_(alice).post(f"{W}/trusted-idps/", body, format="json")
    assert response.status_code == 400, response.content
    assert "non-public" in response.content.decode()


def test_trusted_idps_require_workspace_manage(api, dave_with):
    client = api.as_(dave_with(set()))
    assert client.get(f"{W}/trusted-idps/").status_code == 403
    assert client.post(f"{W}/trusted-idps/", IDP, format="json").status_code == 403
    client = api.as_(dave_with({WORKSPACE_MANAGE}))
    assert client.post(f"{W}/trusted-idps/", IDP, format="json").status_code == 201


def test_it_registers_lists_and_deletes_a_headless_client(api, acme, alice, bob):
    client = api.as_(alice)
    created = client.post(
        f"{W}/headless-clients/", {"name": "Nightly", "member": bob.email}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["member"] == bob.email and body["client_secret"].startswith("gtc_")
    listed = client.get(f"{W}/headless-clients/").json()["results"]
    assert listed == [{k: v for k, v in body.items() if k != "client_secret"}]
    assert client.delete(f"{W}/headless-clients/{body['id']}/").status_code == 204
    assert not HeadlessClient.objects.exists()


def test_a_headless_client_needs_a_member(api, acme, alice, mallory):
    client = api.as_(alice)
    for member in ("nobody@acme.test", mallory.email, "not-an-address"):
        response = client.post(
            f"{W}/headless-clients/", {"name": "x", "member": member}, format="json"
        )
        assert response.status_code == 400, response.content
    response = client.post(f"{W}/headless-clients/", {"name": "", "member": "bob@acme.test"})
    assert response.status_code == 400


def test_headless_clients_require_clients_manage_tokens(api, bob, dave_with):
    body = {"name": "x", "member": bob.email}
    client = api.as_(dave_with(set()))
    assert client.get(f"{W}/headless-clients/").status_code == 403
    assert client.post(f"{W}/headless-clients/", body, format="json").status_code == 403
    client = api.as_(dave_with({CLIENTS_MANAGE_TOKENS}))
    assert client.post(f"{W}/headless-clients/", body, format="json").status_code == 201
