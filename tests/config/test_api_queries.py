"""List endpoints cost a fixed number of queries, however many rows they return."""

import pytest

from gateways.models import Assignment, Gateway
from identities.models import ApiToken
from servers.models import Server
from teams.models import ConfigChange, Membership, Role, Team, User

W = "/api/v1/workspaces/acme"
ROWS = 60


@pytest.fixture
def crowded_acme(acme, alice, acme_gateway):
    """Many rows of every kind, made in bulk (the services are not what is measured here)."""
    eng = Team.objects.get(workspace=acme, slug="eng")
    member = Role.objects.get(workspace=acme, key="member")
    users = User.objects.bulk_create(User(email=f"p{i}@acme.test") for i in range(ROWS))
    memberships = Membership.objects.bulk_create(
        Membership(workspace=acme, user=u, role=member) for u in users
    )
    for membership in memberships:
        membership.teams.add(eng)
    servers = Server.objects.bulk_create(
        Server(workspace=acme, name=f"s{i}", url=f"https://s{i}.test/mcp") for i in range(ROWS)
    )
    gateways = Gateway.objects.bulk_create(
        Gateway(workspace=acme, slug=f"g{i}", name=f"G{i}") for i in range(ROWS)
    )
    for gateway in gateways:
        gateway.teams.add(eng)
    Assignment.objects.bulk_create(
        Assignment(workspace=acme, gateway=acme_gateway, server=s, namespace=s.name)
        for s in servers
    )
    ApiToken.objects.bulk_create(
        ApiToken(workspace=acme, user=alice, name=f"t{i}", prefix="gth_x", digest=f"d{i}")
        for i in range(ROWS)
    )
    ConfigChange.objects.bulk_create(
        ConfigChange(workspace=acme, actor=users[i], action="x", target_type="t", target="t")
        for i in range(ROWS)
    )
    return acme


@pytest.mark.parametrize(
    "path",
    ["members/", "servers/", "gateways/", "gateways/dev/assignments/", "tokens/", "changes/"],
)
def test_lists_do_not_query_per_row(
    api, crowded_acme, alice, bob, carol, django_assert_max_num_queries, path
):
    # alice holds every capability; bob (eng) sees through his team; carol is the auditor.
    for user in (alice, carol if path == "changes/" else bob):
        client = api.as_(user)
        with django_assert_max_num_queries(6):
            response = client.get(f"{W}/{path}?limit=100")
        assert response.status_code == 200, response.content
        if user == alice:
            assert len(response.json()["results"]) >= ROWS
