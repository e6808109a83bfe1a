"""Every list page costs a fixed number of queries, however many rows it shows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import ConfigChange
from gateways.models import Assignment, Gateway
from identities.models import ApiToken
from servers.models import Server
from teams.models import Membership, Role, Team, User

ROWS = 40
PAGES = [
    "/w/acme/",
    "/w/acme/gateways/",
    "/w/acme/gateways/dev/",
    "/w/acme/servers/",
    "/w/acme/people/",
    "/w/acme/teams/",
    "/w/acme/roles/",
    "/w/acme/tokens/",
    "/w/acme/changes/",
]
MAX_QUERIES = 12


def crowd(acme, alice, gateway, rows):
    """`rows` more of every kind, made in bulk (the services are not what is measured)."""
    eng = Team.objects.get(workspace=acme, slug="eng")
    member = Role.objects.get(workspace=acme, key="member")
    tag = f"{rows}x"
    users = User.objects.bulk_create(User(email=f"p{tag}{i}@acme.test") for i in range(rows))
    memberships = Membership.objects.bulk_create(
        Membership(workspace=acme, user=u, role=member) for u in users
    )
    for membership in memberships:
        membership.teams.add(eng)
    Team.objects.bulk_create(
        Team(workspace=acme, slug=f"t{tag}{i}", name=f"T{i}") for i in range(rows)
    )
    Role.objects.bulk_create(
        Role(workspace=acme, key=f"r{tag}{i}", name=f"R{i}", capabilities=[]) for i in range(rows)
    )
    servers = Server.objects.bulk_create(
        Server(workspace=acme, name=f"s{tag}{i}", url=f"https://s{i}.test/mcp") for i in range(rows)
    )
    gateways = Gateway.objects.bulk_create(
        Gateway(workspace=acme, slug=f"g{tag}{i}", name=f"G{i}") for i in range(rows)
    )
    for g in gateways:
        g.teams.add(eng)
    Assignment.objects.bulk_create(
        Assignment(workspace=acme, gateway=gateway, server=s, namespace=s.name) for s in servers
    )
    ApiToken.objects.bulk_create(
        ApiToken(
            workspace=acme,
            user=alice,
            gateway=gateway,
            name=f"t{i}",
            prefix="gth_x",
            digest=f"d{tag}{i}",
        )
        for i in range(rows)
    )
    ConfigChange.objects.bulk_create(
        ConfigChange(workspace=acme, actor=users[i], action="x", target_type="t", target="t")
        for i in range(rows)
    )


def _count(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(queries)


@pytest.mark.parametrize("path", PAGES)
def test_list_pages_do_not_query_per_row(
    as_, acme_gateway, acme, alice, bob, django_assert_max_num_queries, path
):
    client = as_(alice)
    crowd(acme, alice, acme_gateway, 2)
    few = _count(client, path)
    crowd(acme, alice, acme_gateway, ROWS)
    assert _count(client, path) == few
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(path)
    if path != "/w/acme/changes/":  # bob has no logs.view
        bobs = as_(bob)
        with django_assert_max_num_queries(MAX_QUERIES):
            assert bobs.get(path).status_code == 200
