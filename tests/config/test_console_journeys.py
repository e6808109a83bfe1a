"""Browser journeys through the console: Debian's Chromium, headless, driven by Playwright,
against the real ASGI application on a real socket (the data plane included).

Each journey saves screenshots (`Journey` in tests/support/browser.py); with
GATEHOUSE_DOC_SCREENSHOTS=1 the few that the docs show are also written to docs/screenshots/.
The journeys of other pages sit with their app: tests/rules/test_journey.py,
tests/audit/test_integrations_journey.py.
"""

import asyncio
import csv
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from audit.log.recorder import write_entries
from audit.log.writer import flush
from teams import services as team_services
from teams.models import Membership
from tests.support.browser import TIMEOUT_MS, Journey, needs_chromium, open_nav

pytestmark = needs_chromium


def _use_the_gateway(url: str, token: str) -> tuple[list[str], str]:
    """List the tools, add twice and echo once; the tool names and the echo's answer."""

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            for a in (1, 2):
                await client.call_tool("notes__add", {"a": a, "b": 40})
            echoed = await client.call_tool("notes__echo", {"text": "hello from a journey"})
            return names, echoed.content[0].text

    # Its own thread and event loop, away from Playwright's.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


def test_an_admin_sets_up_a_gateway_and_a_client_uses_it(acme, alice, upstream_url, page):
    from playwright.sync_api import expect

    journey = Journey(page, "admin")
    page.goto("/accounts/login/")
    journey.shot("sign-in")
    journey.sign_in("alice@acme.test")
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    page.get_by_role("link", name="Acme").first.click()
    expect(page.get_by_role("heading", name="Acme")).to_be_visible()
    journey.shot("dashboard")

    # Create a gateway.
    open_nav(page, "Gateways")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Gateways").click()
    page.get_by_label("Slug").fill("assist")
    page.get_by_label("Name").fill("Assistants")
    page.get_by_role("button", name="Create gateway").click()
    expect(page.get_by_role("heading", name="Assistants")).to_be_visible()
    gateway_url = page.get_by_test_id("gateway-url").inner_text()
    assert gateway_url.endswith("/mcp/acme/assist")

    # Add the live upstream as a remote server and test the connection.
    open_nav(page, "Gateways")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Servers").click()
    page.get_by_role("link", name="Add remote server").click()
    page.get_by_label("Name").fill("notes")
    page.get_by_label("URL").fill(upstream_url)
    page.get_by_role("button", name="Add server").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connected to notes")).to_be_visible()
    expect(page.locator("#catalog-tools")).to_contain_text("Tools")
    journey.shot("server-catalog", doc="server-catalog")

    # Assign it to the gateway.
    page.goto("/w/acme/gateways/assist/")
    page.get_by_label("Server", exact=True).select_option("notes")
    page.get_by_label("Namespace").fill("notes")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()

    # Refresh the catalog (htmx swaps the card) and curate two tools. The card already lists the
    # tools found by the connection test, so wait for the swap itself: a box ticked in the old
    # card would be lost when the new one replaces it.
    old_card = page.locator("#curation").element_handle()
    page.get_by_role("button", name="Refresh catalog").click()
    page.wait_for_function("card => !card.isConnected", arg=old_card, timeout=TIMEOUT_MS)
    expect(page.locator("#curation")).to_contain_text("delete_note")
    expect(page.locator("#curation .badge.destructive")).to_be_visible()
    # In the curation card: the approval card below names the same tools.
    curation = page.locator("#curation")
    curation.get_by_label("echo", exact=True).check()
    curation.get_by_label("add", exact=True).check()
    expect(curation.get_by_label("Selected tools")).to_be_checked()
    page.get_by_role("button", name="Save curation").click()
    expect(page.get_by_test_id("curation-saved")).to_be_visible()
    journey.shot("curation", doc="tool-curation")

    # The gateway page has the client set-up.
    page.goto("/w/acme/gateways/assist/")
    expect(page.locator("#snippet-claude-oauth")).to_contain_text("Add custom connector")
    page.get_by_text("Claude Code", exact=True).click()
    expect(page.locator("#snippet-claude-code-oauth")).to_contain_text(
        "claude mcp add --transport http"
    )
    journey.shot("gateway", doc="gateway-client-setup")

    # Create a token scoped to the gateway and read it from the page.
    open_nav(page, "Access")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Tokens").click()
    # Exact labels: the scope checkboxes' labels name capabilities ("rename gateways").
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Kind (optional)", exact=True).select_option("gateway")
    page.get_by_label("Gateway (optional)", exact=True).select_option("assist")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert token.startswith("gth_")
    journey.shot("token")

    # A client with that token sees exactly the two curated tools, and calls them.
    names, echoed = _use_the_gateway(gateway_url, token)
    assert names == ["notes__add", "notes__echo"]
    assert echoed == "hello from a journey"
    # The audit writer batches off the request path; wait for what it holds.
    assert flush(timeout=10)

    # Find the echo in the log viewer: its four hops, one call.
    open_nav(page, "Audit")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Logs").click()
    page.get_by_label("Tool (optional)").fill("notes__echo")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.get_by_test_id("log-calls").locator("tr.call-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("notes__echo")
    expect(rows.first).to_contain_text("alice@acme.test")
    page.get_by_text("Show its 4 hops").click()
    expect(page.get_by_test_id("call-hops").locator("tbody tr code.hop-name")).to_have_text(
        ["client.request", "upstream.request", "upstream.response", "client.response"]
    )
    journey.shot("logs", doc="log-viewer")

    # Its timeline: the hops in order, with the payloads.
    rows.first.get_by_role("link", name="Timeline of call").click()
    expect(page.get_by_role("heading", name="Call timeline")).to_be_visible()
    hops = page.get_by_test_id("call-hops").locator("li.hop .hop-kind")
    expect(hops).to_have_text(
        ["client.request", "upstream.request", "upstream.response", "client.response"]
    )
    expect(page.get_by_test_id("call-hops")).to_contain_text("hello from a journey")
    expect(page.get_by_test_id("call-outcome")).to_have_text("OK")
    correlation = page.url.rstrip("/").rsplit("/", 1)[-1]
    journey.shot("timeline", doc="call-timeline")

    # Export what the viewer shows as CSV: the same four hops, digests included.
    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), newline="", encoding="utf-8") as export:
        exported = list(csv.DictReader(export))
    assert [row["hop"] for row in exported] == [
        "client.request",
        "upstream.request",
        "upstream.response",
        "client.response",
    ]
    assert {row["correlation_id"] for row in exported} == {correlation}
    assert {row["tool"] for row in exported} == {"notes__echo"}
    assert all(len(row["digest"]) == 64 for row in exported)

    # The gateway page charts its three calls.
    page.goto("/w/acme/gateways/assist/")
    expect(page.get_by_test_id("activity-calls")).to_have_text("3")
    expect(page.locator("#activity .ranking")).to_contain_text(["notes__add"])
    journey.shot("activity")


def test_a_wrong_password_is_refused(acme, alice, page):
    journey = Journey(page, "sign-in")
    journey.sign_in("alice@acme.test", "not the password")
    from playwright.sync_api import expect

    expect(page.get_by_role("alert")).to_contain_text("not correct")
    journey.shot("refused")


@pytest.fixture
def carol_in_eng(acme, alice, carol, acme_gateway):
    """carol (auditor) in team eng, so gateway dev (provisioned to eng) is hers to see."""
    team_services.update_member(
        membership=Membership.objects.get(workspace=acme, user=carol),
        team_slugs=["eng"],
        actor=alice,
        acting_member=None,
    )


@pytest.fixture
def dev_traffic(acme, bob, acme_gateway):
    """Two calls by bob through gateway dev, as the data plane logs them; the second failed."""
    now = time.time()
    hops = []
    for n, outcome in enumerate(("ok", "error")):
        base = {
            "workspace_id": acme.pk,
            "correlation_id": str(uuid.uuid4()),
            "gateway_id": acme_gateway.pk,
            "gateway_slug": "dev",
            "server_name": "time",
            "user_id": bob.pk,
            "user_email": bob.email,
            "method": "tools/call",
            "tool": "time__now",
            "upstream_tool": "now",
        }
        at = now - 60 + n
        hops += [
            {**base, "hop": "client.request", "at": at, "payload": {"name": "time__now"}},
            {**base, "hop": "upstream.request", "at": at + 0.001},
            {**base, "hop": "upstream.response", "at": at + 0.008, "latency_ms": 7.0},
            {
                **base,
                "hop": "client.response",
                "at": at + 0.009,
                "latency_ms": 9.0,
                "outcome": outcome,
                "error_message": "upstream timed out" if outcome == "error" else "",
            },
        ]
    write_entries(hops)


# Data fixtures come before `page`: once Playwright runs, this thread has an event loop.
def test_an_auditor_sees_the_pages_but_no_edit_controls(carol_in_eng, dev_traffic, page):
    from playwright.sync_api import expect

    journey = Journey(page, "auditor")
    journey.sign_in("carol@acme.test")
    page.goto("/w/acme/")
    expect(page.get_by_role("heading", name="Recent configuration changes")).to_be_visible()
    expect(page.get_by_role("link", name="New gateway")).to_have_count(0)
    journey.shot("dashboard")

    page.goto("/w/acme/gateways/dev/")
    expect(page.get_by_test_id("gateway-url")).to_be_visible()
    for control in ("Add server", "Save teams"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    expect(page.get_by_role("link", name="Delete gateway")).to_have_count(0)
    expect(page.get_by_role("link", name="Remove")).to_have_count(0)
    page.get_by_role("link", name="View").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()
    expect(page.get_by_role("button", name="Save curation")).to_have_count(0)
    expect(page.get_by_role("button", name="Refresh catalog")).to_have_count(0)
    expect(page.get_by_role("radio", name="All tools")).to_be_disabled()
    journey.shot("assignment")

    page.goto("/w/acme/servers/")
    expect(page.get_by_role("link", name="time")).to_be_visible()
    expect(page.get_by_role("link", name="Add remote server")).to_have_count(0)
    page.goto("/w/acme/people/")
    expect(page.get_by_role("heading", name="Invite someone")).to_have_count(0)
    page.goto("/w/acme/changes/")
    expect(page.get_by_role("cell", name="gateway.create")).to_be_visible()
    journey.shot("changes")

    # Logs: the viewer, a timeline and exports, and still nothing to edit.
    open_nav(page, "Audit")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Logs").click()
    rows = page.get_by_test_id("log-calls").locator("tr.call-row")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("upstream timed out")
    journey.shot("logs")
    rows.first.get_by_role("link", name="Timeline of call").click()
    expect(page.get_by_test_id("call-outcome")).to_have_text("Error")
    expect(page.locator("main").get_by_role("button")).to_have_count(0)  # no form at all
    journey.shot("timeline")
    page.goto("/w/acme/gateways/dev/")
    expect(page.get_by_test_id("activity-calls")).to_have_text("2")
    journey.shot("gateway-activity")

    # The server refuses regardless of what the page shows.
    response = page.goto("/w/acme/roles/new/")
    assert response.status == 403
    expect(page.get_by_text("people.manage")).to_be_visible()
    journey.shot("refused")


@pytest.fixture
def probed_servers(acme, alice, upstream_url, token_upstream):
    """Gateway `assist` and two servers probed before the browser starts (its event loop would
    make the services' sync-from-async calls refuse to run on this thread)."""
    from gateways import services as gateway_services
    from servers import services as server_services

    gateway_services.create_gateway(workspace=acme, slug="assist", name="Assistants", actor=alice)
    for name, url in (("ids", token_upstream.url), ("notes", upstream_url)):
        server = server_services.create_server(workspace=acme, name=name, url=url, actor=alice)
        server_services.probe_identity(server=server)


def test_choosing_a_server_to_assign_follows_its_probed_identity(alice, probed_servers, page):
    from playwright.sync_api import expect

    journey = Journey(page, "probe")
    journey.sign_in(alice.email)
    page.goto("/w/acme/gateways/assist/")
    scheme = page.get_by_label("Identity scheme")
    expect(scheme).to_have_value("service_account")  # "ids" comes first
    page.get_by_label("Namespace").fill("kept")
    page.get_by_label("Server", exact=True).select_option("notes")
    expect(page.get_by_text("No identity needed", exact=True)).to_be_visible()
    expect(scheme).to_have_value("none")
    page.get_by_label("Server", exact=True).select_option("ids")
    expect(page.get_by_text("A token or headers", exact=True)).to_be_visible()
    expect(scheme).to_have_value("service_account")
    expect(page.get_by_label("Namespace")).to_have_value("kept")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()
    journey.shot("assigned-with-proposal")
