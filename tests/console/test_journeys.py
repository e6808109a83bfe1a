"""Browser journeys through the console: Debian's Chromium, headless, driven by Playwright,
against the real ASGI application on a real socket (the data plane included).

Each journey saves screenshots to test-artifacts/screenshots/<journey>-<step>.png.
"""

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from django.core.cache import cache
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from teams import services as team_services
from teams.models import Membership
from tests.support.live import ThreadedServer

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's Chromium is not installed (apt-get install chromium)"
)
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def console_base(django_db_setup, django_db_blocker):
    from config.asgi import application

    server = ThreadedServer(application).start()
    yield server.url
    server.stop()


@pytest.fixture
def page(console_base, transactional_db, monkeypatch):
    """A fresh headless Chromium page on the live console.

    Playwright's sync API keeps an event loop on this thread while it runs, which Django takes
    for an async context; the ORM calls of the test itself are plain sync code, so the check is
    lifted for the journey only, and Playwright is stopped before the next test.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        context = browser.new_context(
            base_url=console_base, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        yield context.new_page()
        context.close()
        browser.close()
    cache.clear()


class Journey:
    def __init__(self, page, name: str):
        self.page, self.name, self.step = page, name, 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def shot(self, label: str) -> Path:
        self.step += 1
        path = SHOTS / f"{self.name}-{self.step:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, email: str, password: str = PASSWORD):
        self.page.goto("/accounts/login/")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()


def _tools_seen_through_the_gateway(url: str, token: str) -> list[str]:
    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
            return sorted(tool.name for tool in (await client.list_tools()).tools)

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
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Gateways").click()
    page.get_by_label("Slug").fill("assist")
    page.get_by_label("Name").fill("Assistants")
    page.get_by_role("button", name="Create gateway").click()
    expect(page.get_by_role("heading", name="Assistants")).to_be_visible()
    gateway_url = page.get_by_test_id("gateway-url").inner_text()
    assert gateway_url.endswith("/mcp/acme/assist")

    # Add the live upstream as a remote server and test the connection.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Servers").click()
    page.get_by_role("link", name="Add remote server").click()
    page.get_by_label("Name").fill("notes")
    page.get_by_label("URL").fill(upstream_url)
    page.get_by_role("button", name="Add server").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connected to notes")).to_be_visible()
    expect(page.locator("#catalog-tools")).to_contain_text("Tools")
    journey.shot("server-catalog")

    # Assign it to the gateway.
    page.goto("/w/acme/gateways/assist/")
    page.get_by_label("Server", exact=True).select_option("notes")
    page.get_by_label("Namespace").fill("notes")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()

    # Refresh the catalog (htmx swaps the card) and curate two tools.
    page.get_by_role("button", name="Refresh catalog").click()
    expect(page.locator("#curation")).to_contain_text("delete_note")
    expect(page.locator("#curation .badge.destructive")).to_be_visible()
    page.get_by_label("echo", exact=True).check()
    page.get_by_label("add", exact=True).check()
    expect(page.get_by_label("Selected tools")).to_be_checked()
    page.get_by_role("button", name="Save curation").click()
    expect(page.get_by_test_id("curation-saved")).to_be_visible()
    journey.shot("curation")

    # The gateway page has the client set-up.
    page.goto("/w/acme/gateways/assist/")
    expect(page.locator("#snippet-claude-desktop")).to_contain_text('"type": "http"')
    page.get_by_text("Claude Code").click()
    expect(page.locator("#snippet-claude-code")).to_contain_text("claude mcp add --transport http")
    journey.shot("gateway")

    # Create a token scoped to the gateway and read it from the page.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Gateway").select_option("assist")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert token.startswith("gth_")
    journey.shot("token")

    # A client with that token sees exactly the two curated tools.
    assert _tools_seen_through_the_gateway(gateway_url, token) == ["notes__add", "notes__echo"]


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
    )


# Data fixtures come before `page`: once Playwright runs, this thread has an event loop.
def test_an_auditor_sees_the_pages_but_no_edit_controls(carol_in_eng, page):
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

    # The server refuses regardless of what the page shows.
    response = page.goto("/w/acme/roles/new/")
    assert response.status == 403
    expect(page.get_by_text("people.manage")).to_be_visible()
    journey.shot("refused")
