"""A suspended member is listed as such and granted nothing: not the workspace, not a gateway,
not a role's deletion held up by surprise, not a sign-in that quietly lets them back; `apply`
keeps them suspended."""

import pytest

from core.errors import Conflict
from gateways.selectors import gateways_usable_by, members_provisioned_to
from identities import offboarding
from teams import services as team_services
from teams.models import Membership, WorkspaceSso
from teams.selectors import workspaces_of
from teams.sso.services import SsoRefused, provision_member


def _suspend(workspace, user, *, actor) -> Membership:
    membership = Membership.objects.get(workspace=workspace, user=user)
    return offboarding.suspend_member(membership=membership, actor=actor)


def test_the_people_page_and_the_api_list_show_suspended_members(acme, alice, bob, as_, api):
    _suspend(acme, bob, actor=alice)

    page = as_(alice).get("/w/acme/people/").content.decode()
    row = page[page.index("bob@acme.test") :].split("</tr>")[0]
    assert "Suspended" in row
    alice_row = page[page.index("alice@acme.test") :].split("</tr>")[0]
    assert "Suspended" not in alice_row

    members = api.as_(alice).get("/api/v1/workspaces/acme/members/").json()
    rows = members["results"] if isinstance(members, dict) else members
    active = {m["email"]: m["active"] for m in rows}
    assert active["bob@acme.test"] is False
    assert active["alice@acme.test"] is True


def test_an_admin_removes_a_suspended_member(acme, alice, bob, as_):
    membership = _suspend(acme, bob, actor=alice)
    client = as_(alice)
    detail = client.get(f"/w/acme/people/{membership.pk}/")
    assert detail.status_code == 200
    assert "Suspended" in detail.content.decode()
    assert client.get(f"/w/acme/people/{membership.pk}/remove/").status_code == 200
    assert client.post(f"/w/acme/people/{membership.pk}/remove/").status_code == 302
    assert not Membership.everyone.filter(pk=membership.pk).exists()


def test_a_suspended_member_reaches_nothing(acme, alice, bob, acme_gateway, as_, api):
    membership = _suspend(acme, bob, actor=alice)

    assert list(workspaces_of(bob)) == []
    assert not gateways_usable_by(membership).exists()
    assert bob.pk not in set(members_provisioned_to(acme_gateway).values_list("user_id", flat=True))
    # Any session of theirs still alive (another workspace keeps it) opens no page of acme.
    client = as_(bob)
    assert client.get("/w/acme/").status_code == 404
    assert client.get("/w/acme/gateways/").status_code == 404
    assert api.as_(bob).get("/api/v1/workspaces/acme/gateways/").status_code == 404
    listed = api.as_(bob).get("/api/v1/workspaces/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["slug"] for row in rows] == []


def test_a_role_only_suspended_members_hold_is_not_deleted(acme, alice, bob):
    role = team_services.create_role(
        workspace=acme,
        key="contractor",
        name="Contractor",
        capabilities=[],
        actor=alice,
        acting_member=None,
    )
    membership = Membership.objects.get(workspace=acme, user=bob)
    team_services.update_member(
        membership=membership, role_key="contractor", actor=alice, acting_member=None
    )
    _suspend(acme, bob, actor=alice)
    with pytest.raises(Conflict):
        team_services.delete_role(role=role, actor=alice)


def test_signing_in_again_does_not_undo_a_suspension(acme, alice, bob):
    sso = WorkspaceSso.objects.create(workspace=acme, issuer="https://idp.acme.test")
    _suspend(acme, bob, actor=alice)
    with pytest.raises(SsoRefused, match="suspended"):
        provision_member(sso=sso, user=bob, claims={})
    assert not Membership.everyone.get(workspace=acme, user=bob).active


APPLIED = """\
workspace: {slug: acme, name: Acme}
teams: [{slug: eng, name: Engineering}, {slug: ops, name: Operations}]
users:
  - {email: alice@acme.test, role: owner}
  - {email: bob@acme.test, role: member, teams: [ops]}
"""


def test_apply_keeps_a_suspended_member_suspended(acme, alice, bob, carol, run, config_file):
    _suspend(acme, bob, actor=alice)

    out = run("apply", config_file(APPLIED), "--prune")

    bob_m = Membership.everyone.get(workspace=acme, user=bob)
    assert not bob_m.active  # the file changes his teams; only SCIM or an admin reactivates
    assert sorted(t.slug for t in bob_m.teams.all()) == ["ops"]
    assert "created   member bob@acme.test" not in out
    # carol, active and not in the file, is pruned.
    assert not Membership.everyone.filter(workspace=acme, user=carol).exists()


def test_apply_prune_keeps_a_suspended_member_the_file_leaves_out(
    acme, alice, bob, run, config_file
):
    _suspend(acme, bob, actor=alice)
    text = APPLIED.replace("  - {email: bob@acme.test, role: member, teams: [ops]}\n", "")

    run("apply", config_file(text), "--prune")

    assert Membership.everyone.filter(workspace=acme, user=bob, active=False).exists()
