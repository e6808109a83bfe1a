"""Every list page costs a fixed number of queries, however many rows it shows."""

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from audit.log.recorder import write_entries
from audit.models import Alert
from gateways.models import Assignment, Gateway
from identities.models import ApiToken, DisabledClient
from rules.models import Rule
from servers.models import Server
from teams.models import ConfigChange, Membership, Role, Team, User

ROWS = 40
CALL = uuid.UUID("00000000-0000-4000-8000-000000000001")
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
    "/w/acme/rules/",
    "/w/acme/logs/",
    "/w/acme/logs/?gateway=dev&hop=client.response&q=tool",
    "/w/acme/logs/?view=hops&gateway=dev&q=tool",
    f"/w/acme/logs/calls/{CALL}/",
    "/w/acme/alerts/",
    "/w/acme/alerts/?state=all&kind=rule",
    "/w/acme/clients/",
    "/w/acme/reports/",
]
MAX_QUERIES = 12
# The gateway page and the dashboard also chart calls: three aggregate queries
# (audit.reports.activity); the dashboard then lists the servers down in one more.
LIMITS = {"/w/acme/gateways/dev/": MAX_QUERIES + 3, "/w/acme/": MAX_QUERIES + 3}
# The log viewer looks for its newest entries in the last day, week and month before the whole
# log (audit/log/selectors.py): up to three queries more while those hold less than a page.
LOG_WINDOWS = 3


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
    assignments = Assignment.objects.bulk_create(
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
    scopes = ({}, {"gateway": gateway}, {"gateway": gateway, "assignment": assignments[0]})
    Rule.objects.bulk_create(
        Rule(workspace=acme, name=f"r{tag}{i}", detector="pii", **scope)
        for i in range(rows)
        for scope in scopes
    )
    # Hops of one ever longer call, through gateway dev, by as many people and tools.
    write_entries(
        [
            {
                "workspace_id": acme.pk,
                "hop": hop,
                "correlation_id": CALL,
                "at": time.time(),
                "gateway_id": gateway.pk,
                "gateway_slug": gateway.slug,
                "user_email": users[i].email,
                "method": "tools/call",
                "tool": f"tool{tag}{i}",
                "latency_ms": float(i),
                "payload": {"i": i},
            }
            for i in range(rows)
            for hop in ("client.request", "policy.action", "client.response")
        ]
    )
    crowd_alerts_and_clients(acme, gateway, users, tag, rows)


def crowd_alerts_and_clients(acme, gateway, users, tag, rows):
    """Alerts (half acknowledged) and OAuth client apps (half switched off) holding tokens."""
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            workspace=acme,
            kind="rule",
            subject=f"r{tag}{i}",
            title=f"Rule r{tag}{i} acted",
            gateway_id=gateway.pk,
            gateway_slug=gateway.slug,
            correlation_id=CALL,
            first_at=now,
            last_at=now,
            acknowledged_at=now if i % 2 else None,
            acknowledged_by=users[i] if i % 2 else None,
        )
        for i in range(rows)
    )
    apps = Application.objects.bulk_create(
        Application(
            name=f"app{tag}{i}",
            client_id=f"client-{tag}{i}",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        )
        for i in range(rows)
    )
    AccessToken.objects.bulk_create(
        AccessToken(
            user=users[i],
            application=app,
            token=f"gto_{tag}{i}",
            token_checksum=f"{tag}{i}".rjust(64, "0"),
            expires=now + timedelta(hours=1),
            resource=[f"http://testserver/mcp/acme/{gateway.slug}"],
        )
        for i, app in enumerate(apps)
    )
    DisabledClient.objects.bulk_create(
        DisabledClient(workspace=acme, application=app, gateway=gateway if i % 4 else None)
        for i, app in enumerate(apps)
        if i % 2
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
    many = _count(client, path)
    if path.startswith("/w/acme/logs/?") or path == "/w/acme/logs/":
        # More rows can only fill a page in an earlier window, never add queries.
        assert many <= few
        limit = MAX_QUERIES + LOG_WINDOWS
    else:
        assert many == few
        limit = LIMITS.get(path, MAX_QUERIES)
    with django_assert_max_num_queries(limit):
        client.get(path)
    # bob has no logs.view nor reports.view
    if "/changes/" not in path and "/logs/" not in path and "/reports/" not in path:
        bobs = as_(bob)
        with django_assert_max_num_queries(MAX_QUERIES):
            assert bobs.get(path).status_code == 200
