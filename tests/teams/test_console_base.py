"""The console's scoped base: sign-in, workspace resolution, capability checks, the header."""

import pytest

from teams.capabilities import GATEWAYS_MANAGE, LOGS_VIEW
from tests.support.console import text

PAGES = [
    "/w/acme/",
    "/w/acme/gateways/",
    "/w/acme/servers/",
    "/w/acme/tokens/",
    "/w/acme/people/",
    "/w/acme/teams/",
    "/w/acme/roles/",
    "/w/acme/changes/",
]


@pytest.mark.parametrize("path", PAGES)
def test_it_asks_strangers_to_sign_in(client, acme, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_it_hides_other_workspaces(as_, acme, globex, mallory, path):
    # mallory owns globex and holds every capability there; acme does not exist for her.
    assert as_(mallory).get(path).status_code == 404


def test_an_unknown_workspace_is_the_same_404(as_, acme, alice):
    assert as_(alice).get("/w/nope/gateways/").status_code == 404


def test_it_refuses_a_method_naming_the_missing_capability(console_as_dave_with, acme):
    response = console_as_dave_with(set()).post("/w/acme/gateways/", {"slug": "x", "name": "X"})
    assert response.status_code == 403
    assert GATEWAYS_MANAGE in text(response)


def test_the_header_switches_between_workspaces_and_hides_what_you_cannot_open(
    as_, acme, globex, alice, bob, mallory
):
    from teams import services

    services.add_member(
        workspace=globex, user=alice, role_key="member", actor=mallory, acting_member=None
    )
    page = text(as_(alice).get("/w/acme/"))
    assert 'href="/w/globex/"' in page and 'href="/w/acme/"' in page
    assert 'href="/w/acme/changes/"' in page
    # bob (member) has no logs.view: the link to the admin audit log is not shown.
    bob_page = as_(bob).get("/w/acme/")
    assert bob_page.status_code == 200
    assert 'href="/w/acme/changes/"' not in text(bob_page)
    assert as_(bob).get("/w/acme/changes/").status_code == 403
    assert LOGS_VIEW in text(as_(bob).get("/w/acme/changes/"))


def test_the_home_page_lists_the_workspaces_of_the_caller(as_, acme, globex, alice):
    page = text(as_(alice).get("/"))
    assert "/w/acme/" in page and "/w/globex/" not in page


def test_the_profile_page_saves_the_name(as_, acme, alice):
    client = as_(alice)
    page = client.get("/profile/")
    assert page.status_code == 200
    assert "alice@acme.test" in text(page) and "/accounts/password/change/" in text(page)
    response = client.post("/profile/", {"first_name": "Alice", "last_name": "Liddell"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.get_full_name() == "Alice Liddell"


def test_the_password_change_page_uses_the_console_layout(as_, acme, alice):
    page = as_(alice).get("/accounts/password/change/")
    assert page.status_code == 200
    assert "console/console.css" in text(page)


def test_static_assets_are_served_without_collectstatic(client):
    for asset in ("console/console.css", "console/console.js", "vendor/htmx-2.0.11.min.js"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content)


def test_the_navigation_groups_pages_and_marks_the_current_group(as_, acme, alice):
    from teams.console_base import nav_group

    assert (nav_group("servers"), nav_group("tokens"), nav_group("log-call")) == (
        "gateways",
        "access",
        "audit",
    )
    assert nav_group("dashboard") == "" and nav_group(None) == ""
    page = as_(alice).get("/w/acme/logs/").content.decode()
    nav = page[page.index('aria-label="Workspace"') : page.index("</nav>")]
    assert nav.count("<details") == 4
    assert '<details class="navgroup" data-current>\n        <summary>Audit</summary>' in nav
    assert 'href="/w/acme/logs/" aria-current="page"' in nav
