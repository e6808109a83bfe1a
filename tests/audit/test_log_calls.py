"""The log viewer by call: one row per call with its hops inline, paged by call, filtered by any
hop; the flat view by hop beside it."""

import asyncio
import re
import time
import uuid

import pytest
from mcp.shared.exceptions import MCPError

from audit.log.recorder import write_entries
from audit.log.writer import flush
from teams.capabilities import LOGS_VIEW
from tests.audit.test_log_console import SECRET_ARG, call
from tests.support.console import text
from tests.support.live_gateway import connect

FOUR_HOPS = ["client.request", "upstream.request", "upstream.response", "client.response"]


def calls_of(client, query=""):
    response = client.get(f"/w/acme/logs/?{query}")
    assert response.status_code == 200, query
    return response.context["calls"]


def call_block(body, correlation):
    """The markup of one call: its row and its hops, up to the next call or the table's end."""
    start = body.index(f'data-call="{correlation}"')
    ends = [
        i
        for i in (body.find("data-call=", start + 1), body.find("</table>\n  </div>", start))
        if i > 0
    ]
    return body[start : min(ends)]


def tools_of(rows):
    return [row.tool for row in rows]


# -- real calls through the live gateway ------------------------------------------------------


@pytest.mark.usefixtures("fresh_cache")
def test_calls_through_the_gateway_are_one_row_each_with_their_hops(deployment, as_, bob, carol):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            await client.call_tool("notes__echo", {"text": "grouped"})
            with pytest.raises(MCPError):
                await client.call_tool("ro__delete_note", {"note_id": 3})

    asyncio.run(scenario())
    assert flush(timeout=10)
    response = as_(carol).get("/w/acme/logs/")
    assert response.status_code == 200
    rows = {row.tool: row for row in response.context["calls"] if row.tool}
    echo, refused = rows["notes__echo"], rows["ro__delete_note"]
    assert [e.hop for e in echo.hops] == FOUR_HOPS
    assert len({e.correlation_id for e in echo.hops}) == 1
    assert echo.outcome == "ok" and echo.user_email == "bob@acme.test"
    assert echo.gateway_slug == "dev" and echo.latency_ms > 0
    # Curation refused it: the call is as blocked as its worst hop.
    assert "policy.tool_filtered" in [e.hop for e in refused.hops]
    assert refused.outcome == "blocked"
    # Every hop of the page's calls is in the page, inside each call's expand control.
    body = text(response)
    block = call_block(body, echo.correlation_id)
    assert "Show its 4 hops" in block
    assert re.findall(r'<td><code class="hop-name">([a-z._]+)</code></td>', block) == FOUR_HOPS
    assert "grouped" in block  # the echoed payload, shown to carol (logs.view_payloads)
    refused_row = call_block(body, refused.correlation_id).split("</tr>")[0]
    assert '<span class="badge blocked" data-testid="call-outcome">Blocked</span>' in refused_row


# -- paging by call ---------------------------------------------------------------------------


def test_pages_count_calls_not_hops(as_, acme, carol):
    start = time.time() - 3600
    made = [call(acme, tool=f"t__n{i}", at=start + i) for i in range(120)]
    client = as_(carol)
    seen, pages, path = [], [], "/w/acme/logs/"
    while path:
        response = client.get(path)
        rows = response.context["calls"]
        pages.append(len(rows))
        seen += [str(row.correlation_id) for row in rows]
        assert all(len(row.hops) == 4 for row in rows)
        cursor = response.context["next_cursor"]
        path = f"/w/acme/logs/?after={cursor}" if cursor else ""
    assert pages == [50, 50, 20]
    assert seen == made[::-1]  # newest first, each call once


def test_a_call_is_listed_once_by_its_newest_hop_across_pages(as_, acme, carol):
    start = time.time() - 3600
    # A slow call: its request is older than every other call, its answer newer.
    slow = str(uuid.uuid4())
    base = {"workspace_id": acme.pk, "correlation_id": slow, "tool": "slow__job"}
    write_entries([{**base, "hop": "client.request", "at": start - 60}])
    others = [call(acme, tool=f"t__n{i}", at=start + i) for i in range(60)]
    write_entries([{**base, "hop": "client.response", "at": start + 100, "latency_ms": 160e3}])
    client = as_(carol)
    first = client.get("/w/acme/logs/")
    rows = first.context["calls"]
    assert str(rows[0].correlation_id) == slow and len(rows[0].hops) == 2
    assert rows[0].latency_ms == 160e3
    second = client.get(f"/w/acme/logs/?after={first.context['next_cursor']}")
    listed = [str(r.correlation_id) for r in rows + second.context["calls"]]
    assert listed == [slow, *others[::-1]]
    assert second.context["next_cursor"] == ""


def test_a_call_with_more_hops_than_the_first_window_is_one_row(as_, acme, carol):
    start = time.time() - 3600
    older = call(acme, tool="t__older", at=start)
    busy = str(uuid.uuid4())
    base = {"workspace_id": acme.pk, "correlation_id": busy, "tool": "busy__stream"}
    write_entries(
        [{**base, "hop": "upstream.response", "at": start + 1 + i / 1000} for i in range(400)]
    )
    rows = calls_of(as_(carol))
    assert [str(r.correlation_id) for r in rows] == [busy, older]
    assert len(rows[0].hops) == 400


def test_an_unreadable_cursor_starts_from_the_newest_call(as_, acme, carol):
    newest = call(acme)
    key = "0" * 32
    # Other scripts' digits, and a time past datetime's range: read as no cursor, not a 500.
    for cursor in (
        "garbage",
        "12_not-a-uuid",
        "_",
        "1_" + "0" * 31,
        f"\u0661_{key}",
        f"{9 * 10**17}_{key}",
    ):
        assert [str(r.correlation_id) for r in calls_of(as_(carol), f"after={cursor}")] == [newest]


# -- filters, capabilities, isolation ---------------------------------------------------------


def test_a_filter_matches_a_call_when_any_hop_matches(as_, acme, alice, carol):
    call(acme, user=alice, tool="time__now")
    call(acme, tool="jira__search", gateway_slug="ops", outcome="error")
    old = call(acme, tool="time__now", at=time.time() - 10 * 86400)
    client = as_(carol)
    assert len(calls_of(client)) == 3
    assert tools_of(calls_of(client, "gateway=ops")) == ["jira__search"]
    assert len(calls_of(client, "person=alice@acme.test")) == 1
    # Only the client's answer carries the error, yet the call comes with all four hops.
    [failed] = calls_of(client, "q=timed+out")
    assert [e.hop for e in failed.hops] == FOUR_HOPS and failed.outcome == "error"
    assert tools_of(calls_of(client, "outcome=error")) == ["jira__search"]
    assert len(calls_of(client, "hop=upstream.request")) == 3
    recent = calls_of(client, f"since={time.strftime('%Y-%m-%d', time.gmtime(time.time()))}")
    assert old not in {str(r.correlation_id) for r in recent} and len(recent) == 2
    assert calls_of(client, "until=2000-01-01") == []
    assert "a call matches when any of its hops matches" in text(client.get("/w/acme/logs/"))


def test_payloads_need_their_capability_in_the_call_rows(console_as_dave_with, acme):
    call(acme)
    body = text(console_as_dave_with({LOGS_VIEW}).get("/w/acme/logs/"))
    assert "Show its 4 hops" in body and "client.request" in body
    assert SECRET_ARG not in body


def test_it_hides_other_workspaces_calls(as_, acme, globex, alice):
    mine = call(acme)
    call(globex, tool="secret__read")
    response = as_(alice).get("/w/acme/logs/")
    assert [str(r.correlation_id) for r in response.context["calls"]] == [mine]
    assert "secret__read" not in text(response)
    assert as_(alice).get("/w/globex/logs/").status_code == 404


# -- the flat view ----------------------------------------------------------------------------


def test_the_view_by_hop_lists_each_entry_and_keeps_itself_across_pages(as_, acme, carol):
    start = time.time() - 3600
    for i in range(15):
        call(acme, tool="time__now", at=start + i)
    client = as_(carol)
    response = client.get("/w/acme/logs/?view=hops&tool=time__now")
    body = text(response)
    assert response.context["calls"] == [] and len(response.context["entries"]) == 50
    assert [e.hop for e in response.context["entries"][:4]] == FOUR_HOPS[::-1]
    assert 'name="view" value="hops"' in body  # applying filters stays by hop
    cursor = response.context["next_cursor"]
    assert f"?tool=time__now&amp;view=hops&amp;after={cursor}" in body
    assert 'href="?tool=time__now&amp;view=hops" aria-current="page">By hop' in body
    rest = client.get(f"/w/acme/logs/?view=hops&tool=time__now&after={cursor}")
    assert len(rest.context["entries"]) == 10
    by_call = text(client.get("/w/acme/logs/?tool=time__now"))
    assert 'href="?tool=time__now" aria-current="page">By call' in by_call
    assert 'name="view"' not in by_call


def _pages(client, query):
    """Every page of the viewer for `query`: (calls or entries of each page)."""
    pages, path = [], f"/w/acme/logs/?{query}"
    while path:
        response = client.get(path)
        pages.append(response.context["entries" if "view=hops" in query else "calls"])
        cursor = response.context["next_cursor"]
        path = f"/w/acme/logs/?{query}&after={cursor}" if cursor else ""
    return pages


def test_pages_stay_whole_and_in_order_across_days_weeks_and_months(as_, acme, carol):
    # The viewer looks back a day, a week, a month, then everywhere (audit.log.selectors
    # RECENT_SPANS) before reading the whole log: pages that start in one span and end in
    # another list every call once, newest first.
    start = time.time() - 3600
    ages = [3, 6, 20, 45, 200, 400]
    old = [
        call(acme, tool=f"t__old{i}", at=time.time() - age * 86400) for i, age in enumerate(ages)
    ]
    recent = [call(acme, tool=f"t__n{i}", at=start + i) for i in range(80)]
    newest_first = recent[::-1] + old
    client = as_(carol)
    calls = _pages(client, "")
    assert [len(page) for page in calls] == [50, 36]
    assert [str(row.correlation_id) for page in calls for row in page] == newest_first
    hops = _pages(client, "view=hops")
    assert [len(page) for page in hops] == [50] * 6 + [44]
    listed = [str(e.correlation_id) for page in hops for e in page]
    assert listed == [c for c in newest_first for _ in range(4)]
