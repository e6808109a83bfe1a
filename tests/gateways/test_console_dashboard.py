"""The workspace dashboard: gateways with their calls, errors and blocked calls over 24 hours
and 7 days, and the newest policy actions, for people who may read the log. Its charts are
tested in tests/gateways/test_dashboard_charts.py."""

import time
import uuid

from audit.log.recorder import write_entries
from audit.reports.dashboard import NO_TRAFFIC, Traffic
from gateways import services as gateway_services
from tests.support.audit_entries import call_hops
from tests.support.console import text

HOUR = 3600.0
DAY = 24 * HOUR


def calls(workspace, gateway, n, *, ago=60.0, **extra):
    """`n` tools/call calls on `gateway`, `ago` seconds ago (four hops each)."""
    at = time.time() - ago
    hops = []
    for _ in range(n):
        hops += call_hops(workspace, gateway=gateway.slug, gateway_id=gateway.pk, at=at, **extra)
    return hops


def policy_action(workspace, *, rule, ago, outcome="ok", **detail):
    return {
        "hop": "policy.action",
        "workspace_id": workspace.pk,
        "correlation_id": str(uuid.uuid4()),
        "gateway_slug": "dev",
        "tool": "time__now",
        "at": time.time() - ago,
        "outcome": outcome,
        "detail": {"rule": rule, "kinds": {"email": 2}, "count": 2, **detail},
    }


def test_it_counts_calls_errors_and_blocked_per_gateway(
    as_, acme, alice, acme_gateway, globex, mallory
):
    support = gateway_services.create_gateway(
        workspace=acme, slug="support", name="Support", actor=alice
    )
    write_entries(
        calls(acme, acme_gateway, 3)
        + calls(acme, acme_gateway, 1, outcome="error")
        + calls(acme, acme_gateway, 2, outcome="blocked")
        + calls(acme, acme_gateway, 1, ago=3 * DAY)
        + calls(acme, acme_gateway, 1, ago=3 * DAY, outcome="error")
        + calls(acme, acme_gateway, 4, ago=8 * DAY)  # older than the week
        + calls(acme, support, 2, ago=2 * HOUR, outcome="error")
        # a deleted gateway that had the same slug: its own history, not dev's
        + call_hops(acme, gateway="dev", gateway_id=999_999)
        # not a tools/call: a list is not a call
        + call_hops(acme, gateway="dev", gateway_id=acme_gateway.pk, method="tools/list")
    )
    globex_gateway = gateway_services.create_gateway(
        workspace=globex, slug="dev", name="Theirs", actor=mallory
    )
    write_entries(calls(globex, globex_gateway, 5))

    page = as_(alice).get("/w/acme/")
    assert page.status_code == 200
    by_slug = {g.slug: g.traffic for g in page.context["gateways"]}
    assert by_slug["dev"] == Traffic(
        calls_24h=6, errors_24h=1, blocked_24h=2, calls_7d=8, errors_7d=2, blocked_7d=2
    )
    assert by_slug["support"] == Traffic(
        calls_24h=2, errors_24h=2, blocked_24h=0, calls_7d=2, errors_7d=2, blocked_7d=0
    )
    activity = page.context["activity"]
    assert (activity.calls, activity.errors, activity.blocked) == (9, 3, 2)
    body = text(page)
    assert '<td data-testid="calls-dev">6 <span class="muted">/ 8</span></td>' in body
    assert 'data-testid="blocked-dev"><span class="badge unknown">2</span>' in body


def test_a_gateway_without_calls_shows_zeros(as_, acme, alice, acme_gateway):
    page = as_(alice).get("/w/acme/")
    assert page.context["gateways"][0].traffic is NO_TRAFFIC
    assert '<td data-testid="calls-dev">0 <span class="muted">/ 0</span></td>' in text(page)


def test_it_lists_the_newest_policy_actions(as_, acme, alice, acme_gateway, globex):
    write_entries(
        [
            policy_action(acme, rule="older", ago=2 * HOUR, action="redact", applied=True),
            policy_action(
                acme, rule="newest", ago=60, action="block", applied=True, outcome="blocked"
            ),
            policy_action(acme, rule="watching", ago=HOUR, action="block", mode="monitor"),
            policy_action(globex, rule="theirs", ago=30, action="flag"),
        ]
    )
    page = as_(alice).get("/w/acme/")
    assert [e.detail["rule"] for e in page.context["actions"]] == ["newest", "watching", "older"]
    body = text(page)
    assert "theirs" not in body
    assert '<span class="badge down">blocked</span>' in body
    assert "would block" in body and "<code>email</code> × 2" in body


def test_traffic_and_actions_need_logs_view(as_, acme, alice, bob, acme_gateway):
    write_entries(calls(acme, acme_gateway, 2) + [policy_action(acme, rule="quiet", ago=60)])
    page = as_(bob).get("/w/acme/")
    assert page.status_code == 200
    assert page.context["activity"] is None and page.context["actions"] == []
    body = text(page)
    assert "Developer tools" in body
    assert "Recent policy actions" not in body and 'data-testid="calls-dev"' not in body
    assert "<svg" not in body
    assert "quiet" not in body
