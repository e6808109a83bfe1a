"""SCIM and SSO provision through one path, and a list costs the same queries for any page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identities import offboarding
from identities.scim import selectors
from identities.scim.documents import group_document, user_document
from teams import services as team_services
from teams.models import Membership, User, WorkspaceScim, WorkspaceSso
from teams.sso.services import SsoRefused, provision_member


def test_sso_does_not_make_a_suspended_member_a_member_again(acme, bob):
    membership = Membership.objects.for_workspace(acme).get(user=bob)
    offboarding.suspend_member(membership=membership, actor=None)
    sso = WorkspaceSso.objects.create(workspace=acme, protocol=WorkspaceSso.SAML)
    with pytest.raises(SsoRefused, match="suspended"):
        provision_member(sso=sso, user=bob, claims={})
    assert Membership.everyone.for_workspace(acme).filter(user=bob).count() == 1


def test_sso_gives_new_people_the_scim_role(acme, alice):
    auditor = acme.roles.get(key="auditor")
    WorkspaceScim.objects.create(workspace=acme, default_role=auditor)
    sso = WorkspaceSso.objects.create(workspace=acme, protocol=WorkspaceSso.SAML)
    newcomer = User.objects.create_user(email="new@acme.test")
    assert provision_member(sso=sso, user=newcomer, claims={}).role.key == "auditor"


def _queries(render):
    with CaptureQueriesContext(connection) as queries:
        render()
    return len(queries)


def test_a_page_of_users_or_groups_costs_the_same_queries_whatever_its_size(acme, alice):
    def add_people(count, start):
        for n in range(start, start + count):
            user = User.objects.create_user(email=f"p{n}@acme.test")
            team_services.add_member(
                workspace=acme, user=user, team_slugs=["eng"], actor=None, acting_member=None
            )

    def list_all():
        for m in selectors.users_of(acme)[:200]:
            user_document(m, base="/")
        for t in selectors.groups_of(acme)[:200]:
            group_document(t, base="/", members=t.memberships.all())

    add_people(5, 0)
    few = _queries(list_all)
    add_people(40, 5)
    assert _queries(list_all) == few
