import pytest

from core.errors import Conflict, ValidationFailed
from gateways.selectors import gateways_visible_to
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
        workspace=acme, key="viewer", name="Viewer", capabilities=[GATEWAYS_USE_ALL], actor=alice
    )
    membership = Membership.objects.get(workspace=acme, user=carol)
    update_member(membership=membership, role_key=role.key, actor=alice)
    assert list(gateways_visible_to(membership)) == [acme_gateway]


def test_it_refuses_unknown_capabilities(acme, alice):
    with pytest.raises(ValidationFailed, match="bogus.cap"):
        create_role(workspace=acme, key="x", name="X", capabilities=["bogus.cap"], actor=alice)


def test_it_refuses_duplicate_role_keys(acme, alice):
    with pytest.raises(Conflict):
        create_role(workspace=acme, key="admin", name="Again", capabilities=[], actor=alice)


def test_the_last_owner_stays(acme, alice):
    membership = Membership.objects.get(workspace=acme, user=alice)
    with pytest.raises(ValidationFailed, match="last owner"):
        remove_member(membership=membership, actor=alice)
    with pytest.raises(ValidationFailed, match="last owner"):
        update_member(membership=membership, role_key="member", actor=alice)


def test_scoping_requires_a_workspace(acme):
    with pytest.raises(ValueError, match="workspace is required"):
        Role.objects.for_workspace(None)
