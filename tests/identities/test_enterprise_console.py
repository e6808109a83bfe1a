"""The console pages of trusted identity providers and headless clients."""

import pytest

from identities.models import HeadlessClient, TrustedIdp

IDPS = "/w/acme/settings/trusted-idps/"
HEADLESS = "/w/acme/headless-clients/"
IDP = {"issuer": "https://idp.acme.example", "jwks_url": "https://idp.acme.example/jwks"}


@pytest.fixture(autouse=True)
def _public_resolver(monkeypatch):
    # idp.acme.example resolves nowhere here; it is answered with a public address.
    from core import outbound_http

    monkeypatch.setattr(outbound_http, "resolve", lambda host, port, **kw: ["93.184.216.34"])


def test_it_trusts_and_forgets_an_idp(as_, acme, alice):
    client = as_(alice)
    assert client.post(IDPS, IDP).status_code == 302
    page = client.get(IDPS)
    assert page.status_code == 200 and IDP["jwks_url"] in page.content.decode()
    idp = TrustedIdp.objects.get()
    remove = f"{IDPS}{idp.pk}/remove/"
    assert "Stop trusting" in client.get(remove).content.decode()
    assert client.post(remove).status_code == 302
    assert not TrustedIdp.objects.exists()


def test_bad_input_is_shown_on_the_form(as_, acme, alice):
    client = as_(alice)
    page = client.post(IDPS, {"issuer": "nope", "jwks_url": IDP["jwks_url"]})
    assert page.status_code == 400 and "issuer" in page.content.decode()
    client.post(IDPS, IDP)
    page = client.post(IDPS, IDP)
    assert page.status_code == 400 and "already trusted" in page.content.decode()


def test_it_registers_and_deletes_a_headless_client(as_, acme, alice, bob):
    client = as_(alice)
    page = client.post(HEADLESS, {"name": "Nightly", "member": bob.email})
    assert page.status_code == 200
    headless = HeadlessClient.objects.get()
    text = page.content.decode()
    assert headless.application.client_id in text and "gtc_" in text
    # The secret is shown once: the list does not carry it.
    assert "gtc_" not in client.get(HEADLESS).content.decode()
    assert client.post(f"{HEADLESS}{headless.pk}/delete/").status_code == 302
    assert not HeadlessClient.objects.exists()


def test_a_headless_client_needs_a_member(as_, acme, alice, mallory):
    page = as_(alice).post(HEADLESS, {"name": "x", "member": mallory.email})
    assert page.status_code == 400 and "No active member" in page.content.decode()


def test_the_pages_require_their_capabilities(as_, acme, bob):
    client = as_(bob)
    assert client.get(IDPS).status_code == 403
    assert client.post(IDPS, IDP).status_code == 403
    assert client.get(HEADLESS).status_code == 403
    assert client.post(HEADLESS, {"name": "x", "member": bob.email}).status_code == 403
    assert not TrustedIdp.objects.exists() and not HeadlessClient.objects.exists()
