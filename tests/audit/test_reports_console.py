"""The reports page: a summary of 31 days (calls, errors, blocked and redacted, people, tools,
latency, the busiest day, the top tools and people), the active days, and the daily CSV."""

import csv
import io
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from audit.log.recorder import write_entries
from teams.capabilities import REPORTS_VIEW
from tests.support.console import text

pytestmark = pytest.mark.django_db
TODAY = timezone.now().astimezone(UTC).date()


@pytest.fixture(autouse=True)
def today():
    """The day each test starts on, not the day the module was imported: a suite that runs
    past midnight (UTC) must not date the traffic a day before the report's today."""
    global TODAY  # noqa: PLW0603 (read by the helpers below)
    TODAY = timezone.now().astimezone(UTC).date()
    return TODAY


def noon(days_ago: int) -> float:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC).timestamp()


def entry(workspace, hop, *, days_ago=0, user=None, tool="time__now", **extra):
    return {
        "workspace_id": workspace.pk,
        "correlation_id": str(uuid.uuid4()),
        "hop": hop,
        "at": noon(days_ago),
        "gateway_id": 7,
        "gateway_slug": "dev",
        "user_email": user.email if user else "",
        "method": "tools/call",
        "tool": tool,
        **extra,
    }


def calls(workspace, n=1, *, outcome="ok", latency_ms=None, **kwargs):
    """n tools/call: the client's request and, with its outcome and end-to-end latency, the
    client's response."""
    hops = []
    for _ in range(n):
        hops.append(entry(workspace, "client.request", **kwargs))
        hops.append(
            entry(workspace, "client.response", outcome=outcome, latency_ms=latency_ms, **kwargs)
        )
    write_entries(hops)


def rule_acted(workspace, action, *, applied=True, days_ago=0):
    write_entries(
        [
            entry(
                workspace,
                "policy.action",
                days_ago=days_ago,
                outcome="blocked" if applied and action == "block" else "ok",
                detail={"rule": "r", "action": action, "applied": applied, "kinds": {}},
            )
        ]
    )


@pytest.fixture
def traffic(acme, alice, bob, globex):
    calls(acme, 2, user=alice, latency_ms=10.0)
    calls(acme, user=bob, outcome="error", tool="notes__add", latency_ms=200.0)
    calls(acme, user=alice, days_ago=3, tool="notes__add", latency_ms=20.0)
    calls(acme, 2, tool="time__now", days_ago=3, latency_ms=30.0)  # an API token, no person
    calls(acme, 5, user=bob, days_ago=40, tool="old__tool", latency_ms=999.0)  # too old
    calls(globex, 7, user=alice, tool="their__tool", latency_ms=999.0)  # another workspace
    rule_acted(acme, "block")
    rule_acted(acme, "redact", days_ago=3)
    rule_acted(acme, "mask")
    rule_acted(acme, "block", applied=False)  # monitor mode: it would have blocked
    rule_acted(acme, "flag")
    rule_acted(acme, "block", days_ago=40)


def test_it_reports_the_last_31_days(as_, carol, traffic):
    page = as_(carol).get("/w/acme/reports/")
    assert page.status_code == 200
    report = page.context["report"]
    assert (report.calls, report.people, report.errors) == (6, 2, 1)
    assert (report.blocked, report.redacted) == (1, 2)
    assert report.tools == 2
    # nearest rank over 10, 10, 20, 30, 30, 200
    assert (report.p50_ms, report.p95_ms) == (20.0, 200.0)
    # today and three days ago both had three calls: the later one is named
    assert report.busiest_day.day == TODAY and report.busiest_day.calls == 3
    assert [(t.name, t.count) for t in report.top_tools] == [("time__now", 4), ("notes__add", 2)]
    assert [(p.name, p.count) for p in report.top_people] == [
        ("alice@acme.test", 3),
        ("bob@acme.test", 1),
    ]
    assert len(report.days) == 31 and report.days[-1].day == TODAY
    today, three_days_ago = report.days[-1], report.days[-4]
    assert (today.calls, today.people, today.errors, today.blocked, today.redacted) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert (three_days_ago.calls, three_days_ago.people, three_days_ago.redacted) == (3, 1, 1)
    body = text(page)
    assert 'data-testid="report-calls">6<' in body
    assert 'data-testid="report-tools">2<' in body
    assert 'data-testid="report-latency">20 ms / 200 ms<' in body
    assert f'data-testid="report-busiest">{TODAY.strftime("%b %-d")}<' in body
    assert "old__tool" not in body and "their__tool" not in body
    assert 'href="/w/acme/reports/"' in body  # in the navigation
    # The daily table lists the two days with calls, not 31 rows mostly of zeros.
    table = body[body.index('data-testid="report-days"') :]
    assert table.count("<tr><td>") == 2
    assert f"<tr><td>{TODAY.isoformat()}</td><td>3</td>" in table


def test_the_daily_table_downloads_as_csv(as_, carol, traffic):
    response = as_(carol).get("/w/acme/reports/daily.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert f'filename="acme-report-{TODAY.isoformat()}.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["day", "calls", "people", "errors", "blocked", "redacted"]
    assert len(rows) == 32
    assert rows[-1] == [TODAY.isoformat(), "3", "2", "1", "1", "1"]
    assert rows[-4] == [(TODAY - timedelta(days=3)).isoformat(), "3", "1", "0", "0", "1"]
    assert rows[1] == [(TODAY - timedelta(days=30)).isoformat(), "0", "0", "0", "0", "0"]


def test_an_empty_workspace_shows_an_empty_state_not_zeros(as_, acme, carol, globex, alice):
    calls(globex, 3, user=alice)
    page = as_(carol).get("/w/acme/reports/")
    assert page.status_code == 200
    report = page.context["report"]
    assert report.calls == 0 and report.people == 0 and report.busiest_day is None
    assert report.p50_ms is None and report.active_days == []
    body = text(page)
    assert 'data-testid="report-empty"' in body and "No tool call went through" in body
    assert 'data-testid="report-summary"' not in body and 'data-testid="report-calls"' not in body
    assert 'data-testid="report-days"' not in body


def test_it_requires_reports_view(as_, console_as_dave_with, acme, bob):
    bobs = as_(bob)
    refused = bobs.get("/w/acme/reports/")
    assert refused.status_code == 403 and "reports.view" in text(refused)
    assert bobs.get("/w/acme/reports/daily.csv").status_code == 403
    assert 'href="/w/acme/reports/"' not in text(bobs.get("/w/acme/alerts/"))
    assert console_as_dave_with({REPORTS_VIEW}).get("/w/acme/reports/").status_code == 200


def test_it_hides_other_workspaces(as_, traffic, mallory):
    intruder = as_(mallory)
    assert intruder.get("/w/acme/reports/").status_code == 404
    assert intruder.get("/w/acme/reports/daily.csv").status_code == 404
    theirs = intruder.get("/w/globex/reports/").context["report"]
    assert (theirs.calls, theirs.blocked, theirs.redacted) == (7, 0, 0)
