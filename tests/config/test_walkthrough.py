"""The README's five-minute walkthrough, done in Chromium on the demo as it is written: sign in,
find the gateway's URL, add the world-time server, assign it, add a rule that blocks, call a tool
with the `mcp` SDK through the live gateway, and see the rule act in the log viewer.

Every button, link and field the browser uses is named in the walkthrough's text, in italics
(`WORDING`), so the README cannot drift from the console without a test failing."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from audit.log.writer import flush
from tests.support.browser import Journey, needs_chromium, open_nav
from tests.support.deploy_files import ROOT

ADMIN = "admin@gatehouse.local"
PASSWORD = "walk through the demo"
# What the walkthrough tells the reader to click, pick or fill, in the order the browser does.
WORDING = [
    "Email",
    "Password",
    "Sign in",
    "Demo",
    "Gateways",
    "Developer tools",
    "Connect a client",
    "Servers",
    "Add remote server",
    "Name",
    "URL",
    "Add server",
    "Test connection",
    "Server",
    "Namespace",
    "Rules",
    "New rule",
    "Direction",
    "Mode",
    "Detector",
    "Words and phrases",
    "Action",
    "Create rule",
    "Tokens",
    "Kind (optional)",
    "Gateway (optional)",
    "Create token",
    "Audit",
    "Logs",
    "Hop",
    "Apply filters",
    "Timeline",
]
RULE_WORDS = "Asia/Tokyo"


def _walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^## Five-minute walkthrough\n(.*?)^## ", readme, re.M | re.S)
    assert found, "the README has no Five-minute walkthrough section"
    return found[1]


def test_the_walkthrough_names_what_the_console_shows():
    walkthrough = _walkthrough()
    missing = [text for text in WORDING if f"*{text}*" not in walkthrough]
    assert not missing, f"the walkthrough does not name {missing}"
    for command in (
        "make run",
        "manage.py run_demo_server --port 9002",
        "claude mcp add --transport http gatehouse-dev http://127.0.0.1:8000/mcp/demo/dev",
        "manage.py export_config --workspace demo -o demo.yaml",
        RULE_WORDS,
    ):
        assert command in walkthrough, command


@pytest.fixture
def demo(transactional_db, run, settings, monkeypatch, console_base):
    """The demo as `make run` loads it (its managed server's `npx` allowed, as embedded)."""
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", PASSWORD)
    settings.MANAGED_ALLOWED_COMMANDS = ["npx"]
    run("load_demo", "--url", console_base)


def _ask_the_time(url: str, token: str) -> tuple[list[str], str, str]:
    """The clock's tools as the client lists them, Paris's time, and Tokyo's refusal."""

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
            names = sorted(
                tool.name
                for tool in (await client.list_tools()).tools
                if tool.name.startswith("clock__")
            )
            paris = await client.call_tool("clock__current_time", {"timezone": "Europe/Paris"})
            try:
                await client.call_tool("clock__current_time", {"timezone": "Asia/Tokyo"})
            except MCPError as refused:
                return names, paris.content[0].text, f"{refused.error.code} {refused.error.message}"
            raise AssertionError("the rule did not block the call for Asia/Tokyo")

    # Its own thread and event loop, away from Playwright's.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


@needs_chromium
def test_the_walkthrough_on_the_demo(demo, demo_server_url, page):
    from playwright.sync_api import expect

    journey = Journey(page, "walkthrough")
    nav = page.get_by_role("navigation", name="Workspace")

    # 1. Sign in as the demo admin and open the demo workspace.
    journey.sign_in(ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    page.get_by_role("link", name="Demo").first.click()

    # 2. The gateway's URL, and how a client connects to it with that URL alone.
    open_nav(page, "Gateways")
    nav.get_by_role("link", name="Gateways").click()
    page.get_by_role("link", name="Developer tools").click()
    expect(page.get_by_role("heading", name="Connect a client")).to_be_visible()
    gateway_url = page.get_by_test_id("gateway-url").inner_text()
    assert gateway_url == f"{page.url.split('/w/')[0]}/mcp/demo/dev"
    page.get_by_text("Claude Code", exact=True).click()
    expect(page.locator("#snippet-claude-code-oauth")).to_contain_text(
        f"claude mcp add --transport http gatehouse-dev {gateway_url}"
    )
    journey.shot("connect")

    # 3. Add a second world-time server, started by `manage.py run_demo_server`.
    open_nav(page, "Gateways")
    nav.get_by_role("link", name="Servers").click()
    page.get_by_role("link", name="Add remote server").click()
    page.get_by_label("Name").fill("clock")
    page.get_by_label("URL").fill(demo_server_url)
    page.get_by_role("button", name="Add server").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connected to clock")).to_be_visible()
    expect(page.locator("#catalog-tools")).to_have_text("Tools (2)")
    expect(page.get_by_text("current_time", exact=True)).to_be_visible()
    journey.shot("server")

    # 4. Assign it to the gateway.
    open_nav(page, "Gateways")
    nav.get_by_role("link", name="Gateways").click()
    page.get_by_role("link", name="Developer tools").click()
    page.get_by_label("Server", exact=True).select_option("clock")
    page.get_by_label("Namespace").fill("clock")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()

    # 5. A rule that blocks any request naming Asia/Tokyo.
    open_nav(page, "Gateways")
    nav.get_by_role("link", name="Rules").click()
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("no-tokyo")
    page.get_by_role("region", name="Where and when it runs").get_by_label(
        "Direction"
    ).select_option("request")
    page.get_by_label("Mode", exact=True).select_option("enforce")
    page.get_by_label("Detector", exact=True).select_option("keywords")
    # The keyword list's own fields replace the previous detector's.
    page.get_by_label("Words and phrases").fill(RULE_WORDS)
    page.get_by_label("Action", exact=True).select_option("block")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("Rule no-tokyo was created.")).to_be_visible()
    journey.shot("rule")

    # 6. A client calls the clock: Paris answers, Tokyo is refused by the rule. A program
    # uses a gateway token from Tokens, where a person's client would sign in with OAuth.
    open_nav(page, "Access")
    nav.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name", exact=True).fill("walkthrough")
    page.get_by_label("Kind (optional)", exact=True).select_option("gateway")
    page.get_by_label("Gateway (optional)", exact=True).select_option("dev")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    names, paris, refused = _ask_the_time(gateway_url, token)
    assert names == ["clock__convert_time", "clock__current_time"]
    assert '"Europe/Paris"' in paris
    assert refused.startswith("-32010 ") and "no-tokyo" in refused
    # The audit writer batches off the request path; wait for what it holds.
    assert flush(timeout=10)

    # 7. The rule's action in the log viewer, and the call it stopped.
    open_nav(page, "Audit")
    nav.get_by_role("link", name="Logs").click()
    page.get_by_label("Hop").select_option("policy.action")
    page.get_by_role("button", name="Apply filters").click()
    # One row per call: the blocked one is the only call with a rule's action among its hops.
    rows = page.get_by_test_id("log-calls").locator("tr.call-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("clock__current_time")
    expect(rows.first).to_contain_text(ADMIN)
    expect(rows.first.get_by_test_id("call-outcome")).to_have_text("Blocked")
    journey.shot("logs")
    rows.first.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name="Call timeline")).to_be_visible()
    expect(page.get_by_test_id("call-hops")).to_contain_text("no-tokyo")
    expect(page.get_by_test_id("call-outcome")).to_have_text("Blocked")
    journey.shot("timeline")
