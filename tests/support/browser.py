"""Debian's Chromium for tests that drive the live console as a person would.

A pytest plugin (tests/conftest.py): ``browser`` opens fresh headless pages on the live console,
``page`` is one such page at a desktop size for a journey, and ``Journey`` signs in and takes
the journey's screenshots (test-artifacts/screenshots/<journey>-<step>.png; with
GATEHOUSE_DOC_SCREENSHOTS=1 the few that the docs show are also written to docs/screenshots/,
off by default so an ordinary run leaves the checkout clean).
"""

import os
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's Chromium is not installed (apt-get install chromium)"
)
TIMEOUT_MS = 20_000
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("GATEHOUSE_DOC_SCREENSHOTS") else None
PASSWORD = "correct horse battery"


@pytest.fixture
def browser(console_base, transactional_db, monkeypatch):
    """`browser(**context_options)` opens a fresh page on the live console; nothing it loads
    leaves loopback."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread while it runs, which Django takes
    # for an async context; the test's own ORM calls are plain sync code, so the check is lifted
    # for these tests only, and Playwright is stopped before the next test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )

        def new_page(**context_options):
            context = chromium.new_context(base_url=console_base, **context_options)
            context.set_default_timeout(TIMEOUT_MS)
            # An identity provider's page imports a web font; only loopback is reachable here.
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith("http://127.0.0.1")
                    else route.abort()
                ),
            )
            return context.new_page()

        yield new_page
        chromium.close()
    cache.clear()


@pytest.fixture
def page(browser):
    """A fresh page on the live console, at a desktop size."""
    return browser(viewport={"width": 1280, "height": 900})


class Journey:
    def __init__(self, page, name: str):
        self.page, self.name, self.step = page, name, 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def shot(self, label: str, *, doc: str = "") -> Path:
        """A full-page screenshot; `doc` names the copy the docs show, when those are made."""
        self.step += 1
        path = SHOTS / f"{self.name}-{self.step:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if doc and DOC_SHOTS is not None:
            shutil.copyfile(path, DOC_SHOTS / f"{doc}.png")
        return path

    def sign_in(self, email: str, password: str = PASSWORD):
        self.page.goto("/accounts/login/")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()


def open_nav(page, group: str) -> None:
    """Open a group of the workspace navigation (Gateways, Access, Audit, Settings)."""
    nav = page.get_by_role("navigation", name="Workspace")
    details = nav.locator("details.navgroup", has=page.locator("summary", has_text=group))
    if details.get_attribute("open") is None:
        nav.locator("summary", has_text=group).click()
