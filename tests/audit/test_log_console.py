"""Console pages of the gateway log: the viewer, a call's timeline, exports, gateway charts."""

import csv
import io
import json
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncRequestFactory

from audit.log.recorder import write_entries
from audit.log.views import LogExportPage
from audit.models import LogEntry
from teams.capabilities import LOGS_EXPORT, LOGS_VIEW
from teams.models import ConfigChange
from tests.support.console import text

SECRET_ARG = "zone-from-the-payload"


def call(workspace, *, user=None, gateway=None, tool="time__now", outcome="ok", at=None, **extra):
    """The four hops of one tools/call, as the data plane records them."""
    correlation = str(uuid.uuid4())
    at = at if at is not None else time.time()
    latency = extra.pop("latency_ms", 5.0)
    base = {
        "workspace_id": workspace.pk,
        "correlation_id": correlation,
        "gateway_id": gateway.pk if gateway else 7,
        "gateway_slug": gateway.slug if gateway else "dev",
        "server_id": 5,
        "server_name": "time",
        "user_id": user.pk if user else None,
        "user_email": user.email if user else "",
        "method": "tools/call",
        "tool": tool,
        "upstream_tool": tool.split("__")[-1],
        **extra,
    }
    request = {"name": tool, "arguments": {"zone": SECRET_ARG}}
    answer = {"content": [{"type": "text", "text": "noon"}]}
    failed = {"error_message": "upstream timed out", "error_code": -32001}
    hops = [
        {**base, "hop": "client.request", "at": at, "payload": request},
        {**base, "hop": "upstream.request", "at": at + 0.001, "payload": request},
        {
            **base,
            "hop": "upstream.response",
            "at": at + 0.004,
            "payload": answer,
            "latency_ms": latency - 1,
        },
        {
            **base,
            "hop": "client.response",
            "at": at + latency / 1000,
            "payload": answer,
            "latency_ms": latency,
            "outcome": outcome,
            **(failed if outcome == "error" else {}),
        },
    ]
    write_entries(hops)
    return correlation


# -- the viewer ---------------------------------------------------------------------------------


def test_auditors_see_entries_and_payloads(as_, acme, alice, carol):
    correlation = call(acme, user=alice)
    page = as_(carol).get("/w/acme/logs/")
    assert page.status_code == 200
    body = text(page)
    [row] = page.context["calls"]
    assert [e.hop for e in row.hops][-1] == "client.response" and len(row.hops) == 4
    assert "time__now" in body and "alice@acme.test" in body
    assert f"/w/acme/logs/calls/{correlation}/" in body
    assert SECRET_ARG in body  # carol holds logs.view_payloads
    assert "Export CSV" in body


def test_payloads_and_export_need_their_capabilities(console_as_dave_with, acme):
    correlation = call(acme)
    client = console_as_dave_with({LOGS_VIEW})
    body = text(client.get("/w/acme/logs/"))
    assert "time__now" in body
    assert SECRET_ARG not in body
    assert "Export CSV" not in body and "/logs/export/" not in body
    timeline = text(client.get(f"/w/acme/logs/calls/{correlation}/"))
    assert "client.request" in timeline and SECRET_ARG not in timeline
    assert "logs.view_payloads" in timeline
    refused = client.get("/w/acme/logs/export/?format=csv")
    assert refused.status_code == 403 and LOGS_EXPORT in text(refused)


def test_it_needs_logs_view(as_, acme, bob):
    correlation = call(acme)
    client = as_(bob)
    for path in ("/w/acme/logs/", f"/w/acme/logs/calls/{correlation}/"):
        response = client.get(path)
        assert response.status_code == 403 and LOGS_VIEW in text(response)
    assert 'href="/w/acme/logs/"' not in text(client.get("/w/acme/"))


def test_it_hides_other_workspaces(as_, acme, globex, alice, mallory):
    call(acme)
    theirs = call(globex, tool="secret__read")
    client = as_(alice)
    body = text(client.get("/w/acme/logs/"))
    assert "time__now" in body and "secret__read" not in body
    assert client.get(f"/w/acme/logs/calls/{theirs}/").status_code == 404
    assert client.get("/w/globex/logs/").status_code == 404
    export = b"".join(client.get("/w/acme/logs/export/?format=jsonl").streaming_content)
    assert b"secret__read" not in export


def test_filters(as_, acme, alice, carol):
    call(acme, user=alice, tool="time__now")
    call(acme, tool="jira__search", gateway_slug="ops", outcome="error")
    old = call(acme, tool="time__now", at=time.time() - 10 * 86400)
    client = as_(carol)

    def hops(query):
        response = client.get(f"/w/acme/logs/?view=hops&{query}")
        assert response.status_code == 200, query
        return response.context["entries"]

    assert len(hops("")) == 12
    assert len(hops("gateway=ops")) == 4
    assert len(hops("person=alice@acme.test")) == 4
    assert len(hops("server=time&tool=search")) == 4
    assert {e.hop for e in hops("hop=client.response")} == {"client.response"}
    assert [e.tool for e in hops("outcome=error")] == ["jira__search"]
    assert len(hops("q=timed+out")) == 1
    recent = hops(f"since={time.strftime('%Y-%m-%dT%H:%M', time.gmtime(time.time() - 86400))}")
    assert len(recent) == 8 and str(old) not in {str(e.correlation_id) for e in recent}
    assert {str(e.correlation_id) for e in hops("until=2000-01-01")} == set()


def test_bad_filters_are_shown_next_to_the_field(as_, acme, carol):
    call(acme)
    response = as_(carol).get("/w/acme/logs/?since=yesterday&tool=time__now")
    assert response.status_code == 400
    assert "is not an ISO 8601 date or time" in text(response)
    assert response.context["form"].errors["since"]
    assert response.context["calls"] == []


def test_it_pages_by_keyset(as_, acme, carol):
    start = time.time() - 3600
    write_entries(
        [
            {"workspace_id": acme.pk, "hop": "session.start", "at": start + i, "rpc_id": i}
            for i in range(120)
        ]
    )
    client = as_(carol)
    seen = []
    path = "/w/acme/logs/?view=hops&hop=session.start"
    for _ in range(3):
        response = client.get(path)
        entries = response.context["entries"]
        seen += [e.pk for e in entries]
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        assert "hop=session.start" in text(response)
        path = f"/w/acme/logs/?view=hops&hop=session.start&after={cursor}"
    assert len(seen) == 120 == len(set(seen))
    ats = list(LogEntry.objects.filter(pk__in=seen[:50]).values_list("at", flat=True))
    assert min(ats) > LogEntry.objects.get(pk=seen[50]).at  # newest first across pages
    assert client.get("/w/acme/logs/?after=garbage").status_code == 200
    # Other scripts' digits and a time past datetime's range start from the newest, too.
    for cursor in ("\u0661_1", f"{9 * 10**17}_1"):
        assert client.get(f"/w/acme/logs/?view=hops&after={cursor}").status_code == 200


# -- a call's timeline --------------------------------------------------------------------------


def test_the_timeline_shows_hops_in_order_and_the_rules_that_acted(as_, acme, carol):
    correlation = str(uuid.uuid4())
    base = {"workspace_id": acme.pk, "correlation_id": correlation, "tool": "db__query"}
    t = time.time()
    write_entries(
        [
            {**base, "hop": "client.request", "at": t, "payload": {"sql": "select 1"}},
            {
                **base,
                "hop": "policy.action",
                "at": t + 0.001,
                "detail": {
                    "rule": "no-secrets",
                    "detector": "secrets",
                    "action": "redact",
                    "mode": "monitor",
                    "direction": "request",
                    "applied": False,
                    "kinds": {"aws_key": 2},
                    "count": 2,
                },
            },
            {**base, "hop": "upstream.request", "at": t + 0.002},
            {**base, "hop": "upstream.response", "at": t + 0.010, "latency_ms": 8.0},
            {
                **base,
                "hop": "client.response",
                "at": t + 0.0125,
                "latency_ms": 12.5,
                "outcome": "blocked",
            },
        ]
    )
    response = as_(carol).get(f"/w/acme/logs/calls/{correlation}/")
    assert response.status_code == 200
    call_ = response.context["call"]
    assert [h["entry"].hop for h in response.context["hops"]] == [
        "client.request",
        "policy.action",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    assert call_.outcome == "blocked"
    assert call_.duration_ms == pytest.approx(12.5, abs=0.01)
    body = text(response)
    rules = body[body.index("Rules that acted") :]
    for shown in ("no-secrets", "request", "secrets", "redact", "monitor", "not applied"):
        assert shown in rules
    assert "aws_key ×2" in rules
    assert "&quot;sql&quot;: &quot;select 1&quot;" in body  # pretty-printed, escaped


def test_an_unknown_call_is_404(as_, acme, carol):
    client = as_(carol)
    assert client.get(f"/w/acme/logs/calls/{uuid.uuid4()}/").status_code == 404
    assert client.get("/w/acme/logs/calls/not-a-call/").status_code == 404


# -- export -------------------------------------------------------------------------------------


def _download(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_csv_export_carries_the_filters_and_is_recorded(as_, acme, alice, carol):
    mine = call(acme, user=alice)
    call(acme, tool="jira__search")
    response = as_(carol).get("/w/acme/logs/export/?format=csv&person=alice@acme.test")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="acme-logs.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_download(response))))
    assert [r["hop"] for r in rows] == [
        "client.request",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    assert {r["correlation_id"] for r in rows} == {mine}
    assert all(r["digest"] for r in rows) and "payload" in rows[0]
    change = ConfigChange.objects.get(workspace=acme, action="logs.export")
    assert change.actor.email == "carol@acme.test"
    assert change.detail["via"] == "console"
    assert change.detail["filters"] == {"person": "alice@acme.test"}


def test_jsonl_export_without_payloads(console_as_dave_with, acme):
    call(acme)
    client = console_as_dave_with({LOGS_VIEW, LOGS_EXPORT})
    lines = _download(client.get("/w/acme/logs/export/?format=jsonl")).splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4 and all("payload" not in r for r in records)
    assert SECRET_ARG not in "".join(lines)
    assert client.get("/w/acme/logs/export/?format=xlsx").status_code == 404


def test_the_viewer_links_exports_with_its_filters(as_, acme, carol):
    call(acme)
    body = text(as_(carol).get("/w/acme/logs/?tool=time__now&outcome=ok&after=x"))
    assert "/w/acme/logs/export/?format=csv&amp;tool=time__now&amp;outcome=ok" in body


def test_a_bad_filter_exports_nothing(as_, acme, carol):
    response = as_(carol).get("/w/acme/logs/export/?format=csv&since=soon")
    assert response.status_code == 400 and "ISO 8601" in text(response)
    assert not ConfigChange.objects.filter(action="logs.export").exists()


# -- charts on the gateway page ------------------------------------------------------------------


def test_the_gateway_page_charts_its_calls(as_, acme, alice, carol, acme_gateway):
    for latency in (10.0, 20.0, 30.0, 40.0):
        call(acme, user=alice, gateway=acme_gateway, latency_ms=latency)
    call(acme, user=carol, gateway=acme_gateway, tool="time__zone", outcome="error")
    call(acme, user=carol, gateway=acme_gateway, tool="time__zone", outcome="blocked")
    call(acme, gateway_slug="dev", gateway_id=acme_gateway.pk + 1000)  # another gateway's
    call(acme, gateway=acme_gateway, at=time.time() - 3 * 86400)  # outside 24 hours
    response = as_(alice).get("/w/acme/gateways/dev/")
    activity = response.context["activity"]
    assert (activity.calls, activity.errors, activity.blocked) == (6, 1, 1)
    assert sum(b.total for b in activity.buckets) == 6 and len(activity.buckets) == 24
    assert activity.buckets[-1].total == 6
    assert activity.p50_ms == 10.0  # nearest rank over 5, 5, 10, 20, 30, 40
    assert activity.p95_ms == 40.0
    assert [(r.name, r.count) for r in activity.top_tools] == [("time__now", 4), ("time__zone", 2)]
    assert [(r.name, r.count) for r in activity.top_people] == [
        ("alice@acme.test", 4),
        ("carol@acme.test", 2),
    ]
    body = text(response)
    assert "Calls over time" in body
    assert body.count('<g class="column">') == 24 and body.count('<rect class="blocked"') == 1
    week = as_(alice).get("/w/acme/gateways/dev/?window=7d").context["activity"]
    assert week.calls == 7 and len(week.buckets) == 7
    unknown = as_(alice).get("/w/acme/gateways/dev/?window=forever").context["activity"]
    assert unknown.window == "24h" and unknown.calls == 6


def test_charts_need_logs_view(as_, acme, bob, acme_gateway):
    call(acme, gateway=acme_gateway)
    response = as_(bob).get("/w/acme/gateways/dev/")
    assert response.status_code == 200
    assert "activity" not in response.context and "Calls over time" not in text(response)


def test_under_asgi_the_export_streams_without_reading_everything_first(acme, carol):
    """Django reads a plain iterator whole before an ASGI server sends a byte; the console
    hands it an async one instead."""
    call(acme)
    request = AsyncRequestFactory().get("/w/acme/logs/export/?format=jsonl")
    request.user = carol
    response = LogExportPage.as_view()(request, ws="acme")
    assert response.is_async

    async def read():
        return [chunk async for chunk in response]

    chunks = async_to_sync(read)()
    assert len(b"".join(chunks).splitlines()) == 4


def test_gateway_person_and_server_filters_list_the_workspaces_own(
    as_, acme, carol, acme_gateway, globex_gateway
):
    page = text(as_(carol).get("/w/acme/logs/?person=gone%40acme.test"))
    gateway_select = page[
        page.index('name="gateway"') : page.index("</select>", page.index('name="gateway"'))
    ]
    person_select = page[
        page.index('name="person"') : page.index("</select>", page.index('name="person"'))
    ]
    assert f'<option value="{acme_gateway.slug}">' in gateway_select
    assert (
        f'value="{globex_gateway.slug}"' not in gateway_select
        or globex_gateway.slug == acme_gateway.slug
    )
    assert '<option value="carol@acme.test">' in person_select
    assert "mallory" not in person_select
    # A former member's email given in the query stays selected.
    assert '<option value="gone@acme.test" selected>' in person_select
