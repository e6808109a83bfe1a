"""Single sign-on: a real OpenID Connect provider (panva's oidc-provider, tests/teams/
oidc_provider.mjs) signs people in to the live console in Debian's Chromium, by email domain,
provisioning them just in time; and the settings API and console page that configure it.
"""

import json

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from teams import services as team_services
from teams.capabilities import ALL_KEYS, WORKSPACE_MANAGE
from teams.models import ConfigChange, Membership, User, WorkspaceSso
from teams.sso.services import client_secret, configure_sso, rotate_client_secret
from tests.support import node
from tests.support.api import error, refused_capability
from tests.support.browser import needs_chromium
from tests.support.processes import free_port, start_process

W = "/api/v1/workspaces/acme"
CLIENT_ID = "gatehouse-acme"
CLIENT_SECRET = "idp-client-secret-3f9a7c"
SHOTS = node.REPO_ROOT / "test-artifacts" / "screenshots"


class IdentityProvider:
    """The oidc-provider process and the people it knows (re-read at every sign-in)."""

    def __init__(self, accounts_file, console_base):
        self.accounts_file = accounts_file
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.accounts_file.write_text("{}")
        env = {
            "PATH": "/usr/bin:/bin",
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": f"{console_base}/accounts/oidc/ws-acme/login/callback/",
            "ACCOUNTS_FILE": str(accounts_file),
        }
        script = node.REPO_ROOT / "tests" / "teams" / "oidc_provider.mjs"
        self.process = start_process(
            [node.node_executable(), str(script)], port=self.port, env=env, cwd=node.REPO_ROOT
        )

    def person(self, login, email, groups=()):
        people = json.loads(self.accounts_file.read_text())
        people[login] = {"email": email, "groups": list(groups)}
        self.accounts_file.write_text(json.dumps(people))


@pytest.fixture(scope="module")
def idp(console_base, tmp_path_factory):
    provider = IdentityProvider(tmp_path_factory.mktemp("idp") / "people.json", console_base)
    yield provider
    provider.process.stop()


@pytest.fixture
def acme_sso(acme, alice, idp, private_issuers):
    """acme signs in acme.test through the IdP: new members are auditors; groups map to teams."""
    team_services.create_team(workspace=acme, slug="ops", name="Operations", actor=alice)
    team_services.create_team(workspace=acme, slug="support", name="Support", actor=alice)
    return configure_sso(
        workspace=acme,
        actor=alice,
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        domains=["acme.test"],
        default_role_key="auditor",
        group_teams={"engineers": "eng", "operators": "ops"},
        scopes="openid profile email groups",
        acting_member=None,
    )


def sign_in_with_sso(page, base, email, login):
    """Type the address on the console's sign-in page, then sign in at the identity provider."""
    page.goto("/accounts/login/")
    page.get_by_label("Work address").fill(email)
    page.get_by_role("button", name="Continue with SSO").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent
    # Back on the console (the provider runs on another port of the same host).
    page.wait_for_url(lambda url: url.startswith(base))


def teams_of(workspace, email):
    membership = Membership.objects.get(workspace=workspace, user__email=email)
    return {team.slug for team in membership.teams.all()}


@needs_chromium
def test_a_person_signs_in_by_email_domain_and_is_provisioned(
    acme, alice, idp, acme_sso, browser, console_base
):
    idp.person("erin-1", "Erin@acme.test", groups=["engineers", "unmapped", "admins"])
    page = browser()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/accounts/login/")
    page.screenshot(path=str(SHOTS / "sso-00-sign-in.png"), full_page=True)
    sign_in_with_sso(page, console_base, "erin@acme.test", "erin-1")

    assert page.url == f"{console_base}/"
    assert page.get_by_text("Signed in as erin@acme.test.", exact=True).is_visible()
    page.screenshot(path=str(SHOTS / "sso-01-signed-in.png"), full_page=True)
    assert page.get_by_role("link", name="Acme").first.is_visible()
    erin = User.objects.get(email="erin@acme.test")
    membership = Membership.objects.get(workspace=acme, user=erin)
    assert membership.role.key == "auditor"
    assert teams_of(acme, "erin@acme.test") == {"eng"}
    assert SocialAccount.objects.filter(user=erin, provider="ws-acme", uid="erin-1").exists()
    # Unmapped groups create nothing.
    assert not acme.teams.filter(slug__in=["unmapped", "admins"]).exists()
    # The client secret lives only encrypted in the workspace's settings.
    assert not SocialApp.objects.exists()

    # A team the admin gave by hand is not the mapping's business; mapped teams follow groups.
    team_services.update_member(
        membership=membership,
        team_slugs=["eng", "support"],
        role_key="member",
        actor=alice,
        acting_member=None,
    )
    idp.person("erin-1", "erin@acme.test", groups=["operators"])
    sign_in_with_sso(browser(), console_base, "erin@acme.test", "erin-1")
    assert teams_of(acme, "erin@acme.test") == {"ops", "support"}
    membership.refresh_from_db()
    assert membership.role.key == "member"  # the role an admin set is kept
    assert User.objects.filter(email="erin@acme.test").count() == 1


@needs_chromium
def test_the_sign_in_goes_back_to_where_the_person_was_going(acme, idp, acme_sso, browser):
    idp.person("frank", "frank@acme.test")
    page = browser()
    page.goto("/w/acme/gateways/")  # the console sends a signed-out person to the sign-in page
    page.get_by_label("Work address").fill("frank@acme.test")
    page.get_by_role("button", name="Continue with SSO").click()
    page.locator("input[name=login]").fill("frank")
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/w/acme/gateways/")
    assert page.get_by_role("heading", name="Gateways").is_visible()


@needs_chromium
def test_an_address_outside_the_workspaces_domains_is_refused(
    acme, idp, acme_sso, browser, console_base
):
    # The person starts with an acme.test address, but the provider vouches for another domain.
    idp.person("eve", "eve@evil.test", groups=["engineers"])
    page = browser()
    sign_in_with_sso(page, console_base, "eve@acme.test", "eve")
    assert page.get_by_text("eve@evil.test is not in a domain that Acme signs in").is_visible()
    assert not User.objects.filter(email="eve@evil.test").exists()
    assert not SocialAccount.objects.exists()


@needs_chromium
def test_an_invited_member_is_linked_but_a_stranger_account_is_not(
    acme, bob, idp, acme_sso, browser, console_base
):
    idp.person("bob", "bob@acme.test", groups=["operators"])
    page = browser()
    sign_in_with_sso(page, console_base, "bob@acme.test", "bob")
    assert page.url == f"{console_base}/"
    assert SocialAccount.objects.get(provider="ws-acme", uid="bob").user == bob
    assert Membership.objects.get(workspace=acme, user=bob).role.key == "member"
    assert teams_of(acme, "bob@acme.test") == {"ops"}

    # An account that is not a member of acme cannot be taken over through acme's provider.
    User.objects.create_user(email="zed@acme.test", password="correct horse battery")
    idp.person("zed", "zed@acme.test")
    page = browser()
    sign_in_with_sso(page, console_base, "zed@acme.test", "zed")
    assert page.get_by_text("An account for zed@acme.test already exists").is_visible()
    assert not SocialAccount.objects.filter(uid="zed").exists()
    assert not Membership.objects.filter(user__email="zed@acme.test").exists()


@pytest.mark.django_db
def test_an_unknown_domain_stays_on_the_sign_in_page():
    response = Client().post("/accounts/sso/", {"email": "nobody@unknown.test"}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "No workspace signs in this address with single sign-on" in response.content.decode()


def test_the_issuer_is_fetched_only_from_allowed_addresses(
    transactional_db, acme, idp, acme_sso, settings
):
    client = Client()
    response = client.post("/accounts/sso/", {"email": "gina@acme.test"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{idp.issuer}/auth?")
    assert "login_hint=gina%40acme.test" in response["Location"]

    # Without the admin's permission the same loopback provider is not contacted.
    settings.SSO_ALLOW_PRIVATE_ISSUERS = False
    response = client.post("/accounts/sso/", {"email": "gina@acme.test"}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Could not reach the identity provider of Acme" in response.content.decode()


# The settings API


def _body(**overrides):
    body = {
        "issuer": "http://127.0.0.1:9/",
        "client_id": "cid",
        "client_secret": "s3cret-value-xyz",
        "domains": ["acme.test", "Acme.Example"],
        "default_role": "member",
        "group_teams": {"engineers": "eng"},
    }
    body.update(overrides)
    return body


def test_it_saves_the_settings_and_never_shows_the_secret(api, acme, alice, private_issuers):
    response = api.as_(alice).put(f"{W}/sso/", _body(), format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["domains"] == ["acme.example", "acme.test"]
    assert data["client_secret_set"] is True
    assert data["provider_id"] == "ws-acme"
    assert "client_secret" not in data
    assert "s3cret-value-xyz" not in api.get(f"{W}/sso/").content.decode()

    stored = WorkspaceSso.objects.get(workspace=acme)
    assert "s3cret-value-xyz" not in stored.client_secret_encrypted
    assert stored.client_secret_encrypted.startswith("f1:")
    change = ConfigChange.objects.get(workspace=acme, action="sso.create")
    assert "s3cret-value-xyz" not in json.dumps(change.detail)

    # Without a secret the stored one is kept.
    body = _body(client_id="cid-2")
    del body["client_secret"]
    assert api.put(f"{W}/sso/", body, format="json").status_code == 200
    stored.refresh_from_db()
    assert stored.client_id == "cid-2"

    assert client_secret(stored) == "s3cret-value-xyz"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"issuer": "ftp://idp.test/"}, "issuer"),
        ({"issuer": "http://user:pw@127.0.0.1:9/"}, "issuer"),
        ({"issuer": "http://127.0.0.1:9/?tenant=x"}, "issuer"),
        ({"domains": ["not a domain"]}, "domains"),
        ({"domains": []}, "domains"),
        ({"default_role": "nope"}, "default_role"),
        ({"group_teams": {"engineers": "no-such-team"}}, "group_teams"),
        ({"scopes": "profile email"}, "scopes"),
        ({"groups_claim": "no spaces"}, "groups_claim"),
    ],
)
def test_it_refuses_invalid_settings(api, acme, alice, private_issuers, overrides, field):
    response = api.as_(alice).put(f"{W}/sso/", _body(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == field
    assert not WorkspaceSso.objects.exists()


@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:9/", "https://10.0.0.7/", "https://[::1]/", "http://93.184.216.34/"],
)
def test_a_private_or_plain_http_issuer_needs_the_admins_permission(api, acme, alice, issuer):
    response = api.as_(alice).put(f"{W}/sso/", _body(issuer=issuer), format="json")
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "issuer"
    assert not WorkspaceSso.objects.exists()


def test_a_first_save_needs_the_secret(api, acme, alice, private_issuers):
    body = _body()
    del body["client_secret"]
    response = api.as_(alice).put(f"{W}/sso/", body, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "client_secret"


def test_a_domain_belongs_to_one_workspace(api, acme, alice, globex, mallory, private_issuers):
    assert api.as_(alice).put(f"{W}/sso/", _body(), format="json").status_code == 200
    response = api.as_(mallory).put(
        "/api/v1/workspaces/globex/sso/",
        _body(domains=["globex.test", "acme.test"], group_teams={"ops": "ops"}),
        format="json",
    )
    assert response.status_code == 409, response.content
    assert "acme.test" in error(response)["detail"]
    assert not WorkspaceSso.objects.filter(workspace=globex).exists()


@pytest.mark.parametrize("method", ["get", "put"])
def test_it_requires_workspace_manage(api_as_dave_with, alice, api, acme, private_issuers, method):
    api.as_(alice).put(f"{W}/sso/", _body(), format="json")
    refused = getattr(api_as_dave_with(ALL_KEYS - {WORKSPACE_MANAGE}), method)(
        f"{W}/sso/", _body(client_id="dave"), format="json"
    )
    assert refused.status_code == 403, refused.content
    assert refused_capability(refused) == WORKSPACE_MANAGE
    allowed = getattr(api_as_dave_with({WORKSPACE_MANAGE}), method)(
        f"{W}/sso/", _body(client_id="dave", default_role="member"), format="json"
    )
    assert allowed.status_code == 200, allowed.content


def test_the_default_role_cannot_grant_more_than_the_admin_holds(
    api_as_dave_with, acme, private_issuers
):
    response = api_as_dave_with({WORKSPACE_MANAGE}).put(
        f"{W}/sso/", _body(default_role="owner"), format="json"
    )
    assert response.status_code == 403, response.content
    assert not WorkspaceSso.objects.exists()


def test_it_hides_other_workspaces(api, acme, alice, mallory, globex, private_issuers):
    api.as_(alice).put(f"{W}/sso/", _body(), format="json")
    for method in ("get", "put"):
        response = getattr(api.as_(mallory), method)(f"{W}/sso/", _body(), format="json")
        assert response.status_code == 404
    assert WorkspaceSso.objects.get(workspace=acme).client_id == "cid"


# The console page


def test_the_console_page_saves_the_settings(acme, alice, private_issuers):
    client = Client()
    client.force_login(alice)
    page = client.get("/w/acme/settings/sso/")
    assert page.status_code == 200
    form = {
        "enabled": "on",
        "issuer": "http://127.0.0.1:9",
        "client_id": "console-client",
        "client_secret": "console-secret-123",
        "domains": "acme.test, acme.example",
        "default_role": "auditor",
        "groups_claim": "groups",
        "group_teams": "engineers = eng",
        "scopes": "openid profile email",
        "show_button": "on",
    }
    response = client.post("/w/acme/settings/sso/", form, follow=True)
    assert response.redirect_chain[-1][0] == "/w/acme/settings/sso/"
    html = response.content.decode()
    assert "Single sign-on settings were saved." in html
    assert "console-secret-123" not in html
    assert "/accounts/oidc/ws-acme/login/callback/" in html
    sso = WorkspaceSso.objects.get(workspace=acme)
    assert (sso.client_id, sso.default_role.key, sso.group_teams) == (
        "console-client",
        "auditor",
        {"engineers": "eng"},
    )
    # The sign-in page now offers acme's button, since the admin chose to show it.
    login = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Acme" in login


def test_the_console_page_shows_errors(acme, alice, globex, mallory, private_issuers):
    configure_sso(
        workspace=globex,
        actor=mallory,
        issuer="http://127.0.0.1:9",
        client_id="g",
        client_secret="g",
        domains=["globex.test"],
        acting_member=None,
    )
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/w/acme/settings/sso/",
        {
            "issuer": "http://127.0.0.1:9",
            "client_id": "c",
            "client_secret": "s",
            "domains": "globex.test",
            "default_role": "member",
            "scopes": "openid",
            "group_teams": "just a line",
        },
    )
    assert response.status_code == 400
    assert "Line 1: write group = team-slug." in response.content.decode()
    response = client.post(
        "/w/acme/settings/sso/",
        {
            "issuer": "http://127.0.0.1:9",
            "client_id": "c",
            "client_secret": "s",
            "domains": "globex.test",
            "default_role": "member",
            "scopes": "openid",
        },
    )
    assert response.status_code == 400
    assert "Another workspace already signs in globex.test." in response.content.decode()
    assert not WorkspaceSso.objects.filter(workspace=acme).exists()


def test_the_console_page_requires_workspace_manage(acme, bob):
    client = Client()
    client.force_login(bob)
    assert client.get("/w/acme/settings/sso/").status_code == 403
    assert client.post("/w/acme/settings/sso/", {}).status_code == 403


def test_the_client_secret_follows_a_key_rotation(acme, alice, private_issuers, settings):
    settings.CREDENTIALS_KEYS = ["old key"]
    configure_sso(
        workspace=acme,
        actor=alice,
        issuer="http://127.0.0.1:9",
        client_id="c",
        client_secret="rotating-secret",
        domains=["acme.test"],
        acting_member=None,
    )
    settings.CREDENTIALS_KEYS = ["new key", "old key"]
    assert rotate_client_secret(workspace=acme) is True
    settings.CREDENTIALS_KEYS = ["new key"]
    assert client_secret(WorkspaceSso.objects.get(workspace=acme)) == "rotating-secret"


@needs_chromium
def test_an_account_cannot_be_connected_by_hand(acme, carol, idp, acme_sso, browser, console_base):
    idp.person("carol-idp", "carol@acme.test")
    page = browser()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("carol@acme.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto("/accounts/oidc/ws-acme/login/?process=connect")
    page.get_by_role("button", name="Continue").click()
    page.locator("input[name=login]").fill("carol-idp")
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: url.startswith(console_base))
    assert page.get_by_text("instead of connecting an account").is_visible()
    assert not SocialAccount.objects.exists()
