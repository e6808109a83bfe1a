"""Fixtures of the single sign-on tests: the live console, and Chromium pages on it."""

import pytest
from django.core.cache import cache

from tests.support.browser import CHROMIUM
from tests.support.live import ThreadedServer

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def console_base(django_db_setup, django_db_blocker):
    from config.asgi import application

    server = ThreadedServer(application).start()
    yield server.url
    server.stop()


@pytest.fixture
def private_issuers(settings):
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True


@pytest.fixture
def browser(console_base, transactional_db, monkeypatch):
    """Opens fresh headless Chromium pages on the live console; nothing leaves loopback."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
    # plain sync code, so Django's async guard is lifted for these tests only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def new_page():
            context = chromium.new_context(base_url=console_base)
            context.set_default_timeout(TIMEOUT_MS)
            # The provider's page imports a web font; only loopback is reachable here.
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
