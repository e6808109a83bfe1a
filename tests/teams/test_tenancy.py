import pytest

from core.errors import CapabilityRequired, Conflict, ValidationFailed
from gateways.selectors import gateways_usable_by, gateways_visible_to, members_provisioned_to
from teams.capabilities import ALL_KEYS, GATEWAYS_USE_ALL
from teams.models import Membership, Role
from teams.services import create_role, remove_member, update_member


def test_it_seeds_builtin_roles(acme):
    roles = {r.key: r for r in Role.objects.for_workspace(acme)}
    assert set(roles) == {"owner", "admin", "member", "auditor"}
    assert roles["owner"].capability_set == ALL_KEYS
    assert roles["owner"].locked
    assert roles["member"].capability_set == frozenset()


def test_a_member_reaches_the_gateways_of_their_teams(acme, acme_gateway, bob, carol):
    bob_membership = Membership.objects.get(workspace=acme, user=bob)
    carol_membership = Membership.objects.get(workspace=acme, user=carol)
    assert list(gateways_visible_to(bob_membership)) == [acme_gateway]
    assert list(gateways_visible_to(carol_membership)) == []


def test_use_all_overrides_teams(acme, acme_gateway, alice, carol):
    role = create_role(
        workspace=acme,
        key="viewer",
        name="Viewer",
        capabilities=[GATEWAYS_USE_ALL],
        actor=alice,
        acting_member=None,
    )
    membership = Membership.objects.get(workspace=acme, user=carol)
    update_member(membership=membership, role_key=role.key, actor=alice, acting_member=None)
    assert list(gateways_visible_to(membership)) == [acme_gateway]


def test_it_refuses_unknown_capabilities(acme, alice):
    with pytest.raises(ValidationFailed, match="bogus.cap"):
        create_role(
            workspace=acme,
            key="x",
            name="X",
            capabilities=["bogus.cap"],
            actor=alice,
            acting_member=None,
        )


def test_it_refuses_duplicate_role_keys(acme, alice):
    with pytest.raises(Conflict):
        create_role(
            workspace=acme,
            key="admin",
            name="Again",
            capabilities=[],
            actor=alice,
            acting_member=None,
        )


def test_the_last_owner_stays(acme, alice):
    membership = Membership.objects.get(workspace=acme, user=alice)
    with pytest.raises(ValidationFailed, match="last owner"):
        remove_member(membership=membership, actor=alice, acting_member=None)
    with pytest.raises(ValidationFailed, match="last owner"):
        update_member(membership=membership, role_key="member", actor=alice, acting_member=None)


def test_the_provisioning_rule_reads_the_same_from_both_sides(
    acme, acme_gateway, alice, bob, carol
):
    members = Membership.objects.for_workspace(acme)
    provisioned = set(members_provisioned_to(acme_gateway))
    assert {m.user for m in provisioned} == {alice, bob}  # the owner's use_all, bob's team
    for membership in members:
        usable = gateways_usable_by(membership).filter(pk=acme_gateway.pk).exists()
        assert usable == (membership in provisioned)


def test_nobody_grants_more_than_they_hold(acme, alice, bob):
    bob_membership = Membership.objects.get(workspace=acme, user=bob)
    with pytest.raises(CapabilityRequired):
        create_role(
            workspace=acme,
            key="everything",
            name="Everything",
            capabilities=sorted(ALL_KEYS),
            actor=bob,
            acting_member=bob_membership,
        )
    with pytest.raises(CapabilityRequired):
        remove_member(
            membership=Membership.objects.get(workspace=acme, user=alice),
            actor=bob,
            acting_member=bob_membership,
        )
    assert not Role.objects.for_workspace(acme).filter(key="everything").exists()


def test_scoping_requires_a_workspace(acme):
    with pytest.raises(ValueError, match="workspace is required"):
        Role.objects.for_workspace(None)
