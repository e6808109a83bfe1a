"""Console pages of members, teams and roles, with the escalation guard of teams/grants.py."""

from teams.capabilities import ALL_KEYS, LOGS_VIEW, PEOPLE_MANAGE, grouped
from teams.models import Membership, Role, Team
from tests.support.console import text


def test_members_are_listed_with_roles_and_teams(as_, acme, bob):
    page = as_(bob).get("/w/acme/people/")
    assert page.status_code == 200
    body = text(page)
    assert "alice@acme.test" in body and "carol@acme.test" in body and "Engineering" in body
    # bob is a plain member: no invite form, no change or remove links.
    assert "Invite someone" not in body and "/remove/" not in body


def test_it_invites_by_email_with_role_and_teams(as_, acme, alice):
    response = as_(alice).post(
        "/w/acme/people/",
        {"invite-email": "erin@acme.test", "invite-role": "admin", "invite-teams": ["eng"]},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(workspace=acme, user__email="erin@acme.test")
    assert membership.role.key == "admin"
    assert [t.slug for t in membership.teams.all()] == ["eng"]


def test_invite_errors_are_shown(as_, acme, alice):
    client = as_(alice)
    bad = client.post("/w/acme/people/", {"invite-email": "nope", "invite-role": "member"})
    assert bad.status_code == 400 and "Enter a valid email address." in text(bad)
    again = client.post(
        "/w/acme/people/", {"invite-email": "bob@acme.test", "invite-role": "member"}
    )
    assert again.status_code == 400
    assert "bob@acme.test is already a member of this workspace." in text(again)


def test_inviting_needs_people_manage(as_, acme, bob):
    response = as_(bob).post(
        "/w/acme/people/", {"invite-email": "x@acme.test", "invite-role": "member"}
    )
    assert response.status_code == 403 and PEOPLE_MANAGE in text(response)


def test_nobody_grants_more_than_they_hold(console_as_dave_with, acme):
    client = console_as_dave_with({PEOPLE_MANAGE})
    response = client.post(
        "/w/acme/people/", {"invite-email": "x@acme.test", "invite-role": "auditor"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user__email="x@acme.test").exists()
    ok = client.post("/w/acme/people/", {"invite-email": "x@acme.test", "invite-role": "member"})
    assert ok.status_code == 302


def test_it_changes_a_role(as_, acme, alice, bob):
    membership = Membership.objects.get(workspace=acme, user=bob)
    client = as_(alice)
    page = client.get(f"/w/acme/people/{membership.pk}/")
    assert page.status_code == 200
    response = client.post(f"/w/acme/people/{membership.pk}/", {"role": "admin", "teams": []})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role.key == "admin" and not membership.teams.exists()


def test_the_last_owner_keeps_the_owner_role(as_, acme, alice):
    membership = Membership.objects.get(workspace=acme, user=alice)
    response = as_(alice).post(f"/w/acme/people/{membership.pk}/", {"role": "member"})
    assert response.status_code == 400
    assert "The last owner of a workspace keeps the Owner role." in text(response)


def test_removing_asks_first_and_respects_the_last_owner(as_, acme, alice, bob):
    client = as_(alice)
    bob_m = Membership.objects.get(workspace=acme, user=bob)
    assert "Remove member" in text(client.get(f"/w/acme/people/{bob_m.pk}/remove/"))
    assert client.post(f"/w/acme/people/{bob_m.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=bob_m.pk).exists()
    alice_m = Membership.objects.get(workspace=acme, user=alice)
    last = client.post(f"/w/acme/people/{alice_m.pk}/remove/")
    assert last.status_code == 400
    assert "The last owner of a workspace cannot be removed." in text(last)


def test_another_workspaces_member_is_a_404(as_, acme, globex, alice, mallory):
    foreign = Membership.objects.get(workspace=globex, user=mallory)
    assert as_(alice).get(f"/w/acme/people/{foreign.pk}/").status_code == 404
    assert as_(alice).post(f"/w/acme/people/{foreign.pk}/remove/").status_code == 404


def test_teams_are_created_and_deleted(as_, acme, alice, bob):
    client = as_(alice)
    assert client.post("/w/acme/teams/", {"slug": "ops", "name": "Operations"}).status_code == 302
    taken = client.post("/w/acme/teams/", {"slug": "ops", "name": "Again"})
    assert taken.status_code == 400 and "A team with slug" in text(taken)
    assert "Delete team" in text(client.get("/w/acme/teams/ops/delete/"))
    assert as_(bob).post("/w/acme/teams/ops/delete/").status_code == 403
    assert client.post("/w/acme/teams/ops/delete/").status_code == 302
    assert not Team.objects.filter(workspace=acme, slug="ops").exists()


def test_roles_show_capabilities_as_grouped_toggles(as_, acme, carol):
    page = as_(carol).get("/w/acme/roles/auditor/")
    assert page.status_code == 200
    body = text(page)
    for group, _ in grouped():
        assert f"<legend>{group}</legend>" in body
    assert f'value="{LOGS_VIEW}" checked disabled' in body
    assert "Save role" not in body and "New role" not in text(as_(carol).get("/w/acme/roles/"))


def test_a_custom_role_is_created_edited_and_duplicated(as_, acme, alice):
    client = as_(alice)
    created = client.post(
        "/w/acme/roles/new/",
        {"key": "reviewer", "name": "Reviewer", "capabilities": [LOGS_VIEW]},
    )
    assert created.status_code == 302
    edited = client.post(
        "/w/acme/roles/reviewer/",
        {"name": "Log reviewer", "capabilities": [LOGS_VIEW, PEOPLE_MANAGE]},
    )
    assert edited.status_code == 302
    role = Role.objects.get(workspace=acme, key="reviewer")
    assert (role.name, sorted(role.capabilities)) == ("Log reviewer", [LOGS_VIEW, PEOPLE_MANAGE])
    copy = client.post("/w/acme/roles/reviewer/duplicate/", {"key": "rev2", "name": "Copy"})
    assert copy.status_code == 302 and copy["Location"] == "/w/acme/roles/rev2/"
    assert sorted(Role.objects.get(workspace=acme, key="rev2").capabilities) == sorted(
        role.capabilities
    )


def test_role_errors_are_shown(as_, acme, alice):
    client = as_(alice)
    bad = client.post("/w/acme/roles/new/", {"key": "Bad Key", "name": "", "capabilities": ["x"]})
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"key", "name", "capabilities"}
    taken = client.post("/w/acme/roles/new/", {"key": "admin", "name": "Admin 2"})
    assert taken.status_code == 400 and "A role with key" in text(taken)
    locked = client.post("/w/acme/roles/owner/", {"name": "Boss", "capabilities": []})
    assert locked.status_code == 400 and "is locked" in text(locked)


def test_a_role_cannot_be_made_or_copied_beyond_ones_own(console_as_dave_with, acme):
    client = console_as_dave_with({PEOPLE_MANAGE})
    refused = client.post(
        "/w/acme/roles/new/", {"key": "all", "name": "All", "capabilities": sorted(ALL_KEYS)}
    )
    assert refused.status_code == 403
    assert (
        client.post("/w/acme/roles/admin/duplicate/", {"key": "adm2", "name": "A"}).status_code
        == 403
    )
    assert not Role.objects.filter(key__in=["all", "adm2"]).exists()
