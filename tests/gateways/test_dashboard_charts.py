"""The dashboard's charts: calls by outcome and latency percentiles over a period, the top tools
and people, and the servers down now, drawn as inline SVG from real log entries."""

import re
import time
from datetime import UTC, datetime

from audit.log.recorder import write_entries
from servers.models import Server
from tests.support.audit_entries import call_hops
from tests.support.console import text

HOUR = 3600.0
DAY = 24 * HOUR


def calls(workspace, *latencies, ago=60.0, user=None, **extra):
    """One tools/call per latency, `ago` seconds ago, each answered in that many ms."""
    at = time.time() - ago
    hops = []
    for latency in latencies:
        call = call_hops(workspace, user=user, at=at, **extra)
        call[-1]["latency_ms"] = latency  # the client.response: the end-to-end latency
        hops += call
    return hops


def hour_of(ago: float) -> str:
    return datetime.fromtimestamp(time.time() - ago, UTC).strftime("%H:00")


def svg(body: str, test_id: str) -> str:
    """The one inline SVG chart with this test id."""
    start = body.index(f'data-testid="{test_id}"')
    return body[start : body.index("</svg>", start)]


def test_it_charts_the_calls_of_the_last_24_hours(as_, acme, alice, carol, globex, mallory):
    write_entries(
        calls(acme, 10.0, 20.0, 30.0, user=alice)
        + calls(acme, 40.0, ago=2 * HOUR, user=carol, tool="notes__add", outcome="error")
        + calls(acme, 50.0, 60.0, ago=2 * HOUR, user=carol, tool="notes__add", outcome="blocked")
        + calls(acme, 70.0, ago=3 * DAY, user=alice)  # outside the period
        + calls(acme, 80.0, method="tools/list")  # a list is not a call
        + calls(globex, 5.0, 5.0, 5.0, 5.0, user=mallory, tool="secret__leak")
    )
    page = as_(alice).get("/w/acme/")
    activity = page.context["activity"]
    assert (activity.window, activity.calls, activity.errors, activity.blocked) == ("24h", 6, 1, 2)
    assert (activity.p50_ms, activity.p95_ms) == (30.0, 60.0)  # nearest rank over six calls
    body = text(page)
    assert 'data-testid="dash-calls">6<' in body and 'data-testid="dash-blocked"' in body

    columns = svg(body, "chart-calls")
    assert columns.count('<g class="column">') == 24
    assert f"<title>{hour_of(60)}: 3 calls, 0 errors, 0 blocked</title>" in columns
    assert f"<title>{hour_of(2 * HOUR)}: 3 calls, 1 error, 2 blocked</title>" in columns
    assert columns.count('<rect class="ok"') == 1
    assert columns.count('<rect class="error"') == 1
    assert columns.count('<rect class="blocked"') == 1
    assert 'role="img" aria-labelledby="chart-calls-title chart-calls-desc"' in body

    latency = svg(body, "chart-latency")
    assert latency.count("<circle") == 4  # two hours with calls, two lines
    assert f"<title>{hour_of(60)}: p50 20.0 ms</title>" in latency
    assert f"<title>{hour_of(60)}: p95 30.0 ms</title>" in latency
    assert f"<title>{hour_of(2 * HOUR)}: p95 60.0 ms</title>" in latency

    tools = svg(body, "chart-tools")
    assert re.findall(r"<title>([^<]+)</title>", tools) == [
        "notes__add: 3 calls",
        "time__now: 3 calls",
    ]
    people = svg(body, "chart-people")
    assert re.findall(r"<title>([^<]+)</title>", people) == [
        "alice@acme.test: 3 calls",
        "carol@acme.test: 3 calls",
    ]
    # Another workspace's calls are never counted nor named.
    assert "secret__leak" not in body and "mallory" not in body


def test_the_period_selector_picks_24_hours_7_or_30_days(as_, acme, alice):
    write_entries(
        calls(acme, 10.0)
        + calls(acme, 20.0, ago=3 * DAY)
        + calls(acme, 30.0, ago=20 * DAY)
        + calls(acme, 40.0, ago=40 * DAY)
    )
    client = as_(alice)
    for period, columns, count in (("24h", 24, 1), ("7d", 7, 2), ("30d", 30, 3)):
        page = client.get(f"/w/acme/?period={period}")
        assert page.context["activity"].calls == count, period
        body = text(page)
        assert svg(body, "chart-calls").count('<g class="column">') == columns, period
        assert f'<a href="?period={period}#activity" aria-current="true">' in body
    for bad in ("forever", "7", "<script>", "30d%00"):
        page = client.get("/w/acme/", {"period": bad})
        assert page.status_code == 200, bad
        assert page.context["activity"].window == "24h" and page.context["activity"].calls == 1


def test_percentiles_stay_within_a_bin_of_the_true_value(as_, acme, alice):
    write_entries(calls(acme, *(float(ms) for ms in range(1, 101))))
    activity = as_(alice).get("/w/acme/").context["activity"]
    assert activity.sampled == 100
    assert abs(activity.p50_ms - 50) <= 50 * 0.09
    assert abs(activity.p95_ms - 95) <= 95 * 0.09


def test_an_empty_workspace_shows_an_empty_state_not_zeros(as_, acme, alice, globex, mallory):
    write_entries(calls(globex, 5.0, user=mallory))
    page = as_(alice).get("/w/acme/?period=30d")
    assert page.context["activity"].calls == 0
    body = text(page)
    assert 'data-testid="dash-empty"' in body
    assert "No tool call went through this workspace's gateways in the last 30 days." in body
    assert "<svg" not in body and 'data-testid="dash-totals"' not in body


def test_it_lists_the_servers_down_now_that_one_may_see(as_, acme, alice, bob, globex):
    Server.objects.create(
        workspace=acme,
        name="billing",
        url="https://billing.test/mcp",
        health=Server.Health.DOWN,
        health_detail="connection refused",
    )
    Server.objects.create(workspace=acme, name="wiki", url="https://wiki.test/mcp")
    Server.objects.create(
        workspace=globex, name="theirs", url="https://theirs.test/mcp", health=Server.Health.DOWN
    )
    body = text(as_(alice).get("/w/acme/"))
    down = body[body.index('data-testid="dash-down"') :]
    down = down[: down.index("</section>")]
    assert '<a href="/w/acme/servers/billing/">billing</a>' in down
    assert "connection refused" in down
    assert "wiki" not in down and "theirs" not in down
    # bob sees only the servers of the gateways he may use; billing is on none.
    bobs = text(as_(bob).get("/w/acme/"))
    assert "billing" not in bobs and "Every server you can see answered" in bobs
