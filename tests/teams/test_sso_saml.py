"""SAML 2.0 single sign-on: a real SAML identity provider (tests/teams/saml_idp.py, signing with
xmlsec) signs people in to the live console in Debian's Chromium, by email domain, through
allauth's saml provider; refused when the assertion is unsigned, tampered with, signed by
another key, replayed, or names an address outside the workspace's domains. Then the settings
API and console page, and the platform without the `saml` extra.
"""

import base64
import os
import subprocess
import sys
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from lxml import etree

from teams import services as team_services
from teams.models import ConfigChange, Membership, User, WorkspaceSso
from teams.sso.services import configure_sso
from tests.support import node
from tests.support.api import error
from tests.support.browser import needs_chromium
from tests.teams.saml_idp import SamlIdentityProvider, self_signed

W = "/api/v1/workspaces/acme"
ACS = "/accounts/saml/ws-acme/acs/"
SP_METADATA = "/accounts/saml/ws-acme/metadata/"
SHOTS = node.REPO_ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def saml_idp(console_base):
    idp = SamlIdentityProvider(
        sp_entity_id=f"{console_base}{SP_METADATA}", acs_url=f"{console_base}{ACS}"
    )
    yield idp
    idp.stop()


@pytest.fixture
def idp(saml_idp):
    saml_idp.reset()
    return saml_idp


@pytest.fixture
def acme_saml(acme, alice, idp, private_issuers):
    """acme signs in acme.test through the SAML IdP, read from its metadata URL."""
    team_services.create_team(workspace=acme, slug="ops", name="Operations", actor=alice)
    team_services.create_team(workspace=acme, slug="support", name="Support", actor=alice)
    return configure_sso(
        workspace=acme,
        actor=alice,
        protocol="saml",
        idp_metadata_url=f"{idp.base}/metadata",
        domains=["acme.test"],
        default_role_key="auditor",
        groups_claim="groups",
        group_teams={"engineers": "eng", "operators": "ops"},
        first_name_attribute="givenName",
        last_name_attribute="sn",
        acting_member=None,
    )


def sign_in_with_saml(page, base, email, login):
    """Type the address on the console's sign-in page, then sign in at the SAML IdP."""
    page.goto("/accounts/login/")
    page.get_by_label("Work address").fill(email)
    page.get_by_role("button", name="Continue with SSO").click()
    page.get_by_label("Username").fill(login)
    page.get_by_role("button", name="Sign in at the IdP").click()
    page.get_by_role("button", name="Continue to the service").click()  # posts to the ACS
    page.wait_for_url(lambda url: url.startswith(base))


def teams_of(workspace, email):
    membership = Membership.objects.get(workspace=workspace, user__email=email)
    return {team.slug for team in membership.teams.all()}


def refused(page):
    return page.get_by_text("Single sign-on did not complete").is_visible()


@needs_chromium
def test_a_person_signs_in_with_saml_and_is_provisioned(
    acme, alice, idp, acme_saml, browser, console_base
):
    idp.person(
        "erin",
        "Erin@acme.test",
        groups=["engineers", "unmapped"],
        given_name="Erin",
        family_name="Ng",
    )
    page = browser()
    sign_in_with_saml(page, console_base, "erin@acme.test", "erin")

    assert page.url == f"{console_base}/"
    assert page.get_by_text("Signed in as erin@acme.test.", exact=True).is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "sso-saml-01-signed-in.png"), full_page=True)
    erin = User.objects.get(email="erin@acme.test")
    assert (erin.first_name, erin.last_name) == ("Erin", "Ng")
    membership = Membership.objects.get(workspace=acme, user=erin)
    assert membership.role.key == "auditor"
    assert teams_of(acme, "erin@acme.test") == {"eng"}
    account = SocialAccount.objects.get(user=erin)
    assert (account.provider, account.uid) == ("ws-acme", "Erin@acme.test")
    assert not acme.teams.filter(slug="unmapped").exists()

    # The same mapping code as OpenID Connect: mapped teams follow the groups, others stay.
    team_services.update_member(
        membership=membership, team_slugs=["eng", "support"], actor=alice, acting_member=None
    )
    idp.person("erin", "erin@acme.test", groups=["operators"])
    sign_in_with_saml(browser(), console_base, "erin@acme.test", "erin")
    assert teams_of(acme, "erin@acme.test") == {"ops", "support"}
    assert User.objects.filter(email="erin@acme.test").count() == 1


@needs_chromium
def test_an_address_outside_the_workspaces_domains_is_refused(
    acme, idp, acme_saml, browser, console_base
):
    idp.person("eve", "eve@evil.test", groups=["engineers"])
    page = browser()
    sign_in_with_saml(page, console_base, "eve@acme.test", "eve")
    assert page.get_by_text("eve@evil.test is not in a domain that Acme signs in").is_visible()
    assert not User.objects.filter(email="eve@evil.test").exists()
    assert not SocialAccount.objects.exists()


def _escalate(xml):
    # A signed assertion whose groups were edited afterwards.
    return xml.replace(">readers<", ">operators<")


@needs_chromium
@pytest.mark.parametrize(
    "attack", ["unsigned", "only the response signed", "tampered", "another key"]
)
def test_an_assertion_that_is_not_signed_by_the_idp_is_refused(
    acme, idp, acme_saml, browser, console_base, attack
):
    idp.person("ivan", "ivan@acme.test", groups=["readers"])
    if attack == "unsigned":
        idp.signs = None
    elif attack == "only the response signed":
        idp.signs = "response"
    elif attack == "tampered":
        idp.tamper = _escalate
    else:
        idp.key, idp.certificate = self_signed("Impostor")
    page = browser()
    sign_in_with_saml(page, console_base, "ivan@acme.test", "ivan")
    assert refused(page)
    assert not User.objects.filter(email="ivan@acme.test").exists()
    assert not SocialAccount.objects.exists()
    # The attack reached the ACS as a well-formed response, so the refusal is the signature's.
    xml = base64.b64decode(idp.responses[-1])
    assert b"ivan@acme.test" in xml
    assert (b"<ds:Signature" in xml) is (attack != "unsigned")


@needs_chromium
def test_a_response_is_accepted_once(acme, idp, acme_saml, browser, console_base):
    idp.person("judy", "judy@acme.test")
    page = browser()
    sign_in_with_saml(page, console_base, "judy@acme.test", "judy")
    assert page.url == f"{console_base}/"
    replayed = page.request.post(
        f"{console_base}{ACS}", form={"SAMLResponse": idp.responses[-1], "RelayState": ""}
    )
    assert replayed.status == 403  # its InResponseTo was consumed by the first sign-in
    # Nor does it sign anyone in elsewhere: an unsolicited response is refused.
    stranger = browser()
    answer = stranger.request.post(
        f"{console_base}{ACS}", form={"SAMLResponse": idp.responses[-1], "RelayState": ""}
    )
    assert answer.status in (401, 403)
    stranger.goto("/")
    assert stranger.url.startswith(f"{console_base}/accounts/login/")
    assert SocialAccount.objects.count() == 1


def test_sign_in_by_email_domain_goes_to_the_saml_idp(transactional_db, acme, idp, acme_saml):
    # python3-saml reads the Host header, which every browser sends and the test client not.
    client = Client(HTTP_HOST="testserver")
    response = client.post("/accounts/sso/", {"email": "gina@acme.test"})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == idp.sso_url
    request = parse_qs(location.query)["SAMLRequest"][0]
    root = etree.fromstring(zlib.decompress(base64.b64decode(request), -15))
    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:protocol}AuthnRequest"
    assert root.get("AssertionConsumerServiceURL") == f"http://testserver{ACS}"


def test_the_service_provider_metadata_asks_for_signed_assertions(
    transactional_db, acme, idp, acme_saml
):
    response = Client().get(SP_METADATA)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    assert root.get("entityID") == f"http://testserver{SP_METADATA}"
    descriptor = root.find(f"{md}SPSSODescriptor")
    assert descriptor.get("WantAssertionsSigned") == "true"
    assert descriptor.find(f"{md}AssertionConsumerService").get("Location") == (
        f"http://testserver{ACS}"
    )


# The settings API


def _body(idp, **overrides):
    body = {
        "protocol": "saml",
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_x509cert": idp.certificate,
        "domains": ["acme.test"],
        "default_role": "member",
        "groups_claim": "memberOf",
        "group_teams": {"engineers": "eng"},
        "email_attribute": "urn:oid:0.9.2342.19200300.100.1.3",
    }
    body.update(overrides)
    return body


def test_it_saves_saml_settings(api, acme, alice, idp, private_issuers):
    response = api.as_(alice).put(f"{W}/sso/", _body(idp), format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["protocol"], data["idp_entity_id"], data["idp_sso_url"]) == (
        "saml",
        idp.entity_id,
        idp.sso_url,
    )
    assert data["idp_x509cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert data["email_attribute"] == "urn:oid:0.9.2342.19200300.100.1.3"
    assert data["saml_sp"] == {
        "metadata": f"http://testserver{SP_METADATA}",
        "acs": f"http://testserver{ACS}",
    }
    change = ConfigChange.objects.get(workspace=acme, action="sso.create")
    assert change.detail["protocol"] == "saml"
    assert change.detail["idp_entity_id"] == idp.entity_id


def test_it_reads_the_idp_from_its_metadata_url(api, acme, alice, idp, private_issuers):
    body = _body(idp, idp_metadata_url=f"{idp.base}/metadata", idp_entity_id="", idp_x509cert="")
    del body["idp_sso_url"]
    response = api.as_(alice).put(f"{W}/sso/", body, format="json")
    assert response.status_code == 200, response.content
    sso = WorkspaceSso.objects.get(workspace=acme)
    assert (sso.idp_entity_id, sso.idp_sso_url) == (idp.entity_id, idp.sso_url)
    assert "".join(sso.idp_x509cert.split()) == "".join(idp.certificate.split())


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"idp_x509cert": "-----BEGIN CERTIFICATE-----\nnot base64!\n"}, "idp_x509cert", "X.509"),
        ({"idp_x509cert": base64.b64encode(b"not a certificate").decode()}, "idp_x509cert", ""),
        ({"idp_entity_id": ""}, "idp_entity_id", "entity id"),
        ({"idp_sso_url": "ftp://idp.test/sso"}, "idp_sso_url", "https"),
        ({"email_attribute": "an attribute"}, "email_attribute", ""),
        ({"protocol": "ws-fed"}, "protocol", ""),
        ({"idp_metadata_url": "http://127.0.0.1:9/metadata"}, "idp_metadata_url", "read"),
    ],
)
def test_it_refuses_invalid_saml_settings(
    api, acme, alice, idp, private_issuers, overrides, field, message
):
    response = api.as_(alice).put(f"{W}/sso/", _body(idp, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == field
    assert message in error(response)["detail"]
    assert not WorkspaceSso.objects.exists()


def test_a_metadata_url_that_is_not_metadata_is_refused(
    api, acme, alice, idp, console_base, private_issuers
):
    body = _body(idp, idp_metadata_url=f"{console_base}/accounts/login/")
    response = api.as_(alice).put(f"{W}/sso/", body, format="json")
    assert response.status_code == 400, response.content
    assert error(response) == {
        "code": "invalid",
        "detail": "The metadata URL did not return SAML metadata.",
        "attr": "idp_metadata_url",
    }


def test_the_metadata_url_is_fetched_only_from_allowed_addresses(api, acme, alice, idp):
    body = _body(idp, idp_metadata_url=f"{idp.base}/metadata")
    response = api.as_(alice).put(f"{W}/sso/", body, format="json")
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "idp_metadata_url"
    assert "must be an https URL" in error(response)["detail"]
    https = _body(idp, idp_metadata_url="https://127.0.0.1:9/metadata")
    response = api.put(f"{W}/sso/", https, format="json")
    assert response.status_code == 400
    assert "non-public address (127.0.0.1)" in error(response)["detail"]


def test_switching_protocols_keeps_the_other_settings(api, acme, alice, idp, private_issuers):
    oidc = {
        "issuer": "http://127.0.0.1:9/",
        "client_id": "cid",
        "client_secret": "s3cret-value-xyz",
        "domains": ["acme.test"],
    }
    assert api.as_(alice).put(f"{W}/sso/", oidc, format="json").status_code == 200
    assert api.put(f"{W}/sso/", _body(idp), format="json").status_code == 200
    back = {**oidc, "protocol": "oidc"}
    del back["client_secret"]
    response = api.put(f"{W}/sso/", back, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["protocol"], data["client_secret_set"]) == ("oidc", True)
    assert data["idp_entity_id"] == idp.entity_id


def test_saml_is_refused_where_it_is_unavailable(api, acme, alice, idp, settings):
    settings.SSO_SAML_AVAILABLE = False
    response = api.as_(alice).put(f"{W}/sso/", _body(idp), format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "protocol"
    assert "SAML is not available" in error(response)["detail"]


# The console page


def test_the_console_page_saves_saml_settings(acme, alice, idp, private_issuers):
    client = Client()
    client.force_login(alice)
    page = client.get("/w/acme/settings/sso/").content.decode()
    # What the admin registers at the IdP is on the page before anything is saved.
    assert f"http://testserver{SP_METADATA}" in page
    assert f"http://testserver{ACS}" in page
    form = {
        "enabled": "on",
        "protocol": "saml",
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_x509cert": idp.certificate,
        "email_attribute": "email",
        "domains": "acme.test",
        "default_role": "auditor",
        "groups_claim": "groups",
        "group_teams": "engineers = eng",
    }
    response = client.post("/w/acme/settings/sso/", form, follow=True)
    assert response.redirect_chain[-1][0] == "/w/acme/settings/sso/"
    assert "Single sign-on settings were saved." in response.content.decode()
    sso = WorkspaceSso.objects.get(workspace=acme)
    assert (sso.protocol, sso.idp_entity_id, sso.default_role.key) == (
        "saml",
        idp.entity_id,
        "auditor",
    )

    response = client.post("/w/acme/settings/sso/", {**form, "idp_x509cert": "garbage"})
    assert response.status_code == 400
    assert "The IdP certificate is not an X.509 certificate" in response.content.decode()
    sso.refresh_from_db()
    assert sso.idp_x509cert.startswith("-----BEGIN CERTIFICATE-----")


def test_the_console_page_says_when_saml_is_unavailable(acme, alice, settings):
    settings.SSO_SAML_AVAILABLE = False
    client = Client()
    client.force_login(alice)
    page = client.get("/w/acme/settings/sso/").content.decode()
    assert "SAML 2.0 (unavailable on this platform)" in page
    assert "SAML is unavailable on this platform" in page


def test_the_platform_starts_without_the_saml_extra(tmp_path):
    # A module named xmlsec that fails to import stands for a missing or mismatched xmlsec.
    (tmp_path / "xmlsec.py").write_text("raise ImportError('xmlsec is not installed')\n")
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{node.REPO_ROOT}",
        "GATEHOUSE_VAR_DIR": str(tmp_path / "var"),
    }
    script = (
        "import django; django.setup();"
        "from django.conf import settings; from django.urls import reverse;"
        "print(settings.SSO_SAML_AVAILABLE,"
        " 'allauth.socialaccount.providers.saml' in settings.INSTALLED_APPS,"
        " reverse('sso-settings', kwargs={'ws': 'acme'}))"
    )
    for command in (["manage.py", "check"], ["-c", script]):
        result = subprocess.run(
            [sys.executable, *command],
            cwd=node.REPO_ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "/w/acme/settings/sso/"]
