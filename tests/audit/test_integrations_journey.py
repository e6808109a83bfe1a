"""A browser journey through the integrations pages: add a SIEM webhook sink, copy its signing
key (shown once), send it a test entry, pause it; then set up the alert webhook."""

from audit.models import AlertWebhook, LogSink
from tests.support.browser import Journey, needs_chromium, open_nav

pytestmark = needs_chromium


# Data fixtures come before `page`: once Playwright runs, this thread has an event loop.
def test_an_admin_streams_the_log_and_alerts_to_receivers(acme, alice, receiver, page):
    from playwright.sync_api import expect

    journey = Journey(page, "integrations")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    page.goto("/w/acme/")
    open_nav(page, "Audit")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="SIEM sinks").click()
    expect(page.get_by_text("No sinks yet")).to_be_visible()
    page.get_by_role("link", name="Add webhook sink").click()
    page.get_by_label("Name").fill("siem")
    page.get_by_label("Endpoint").fill("https://10.0.0.5/in")
    page.get_by_role("button", name="Add sink").click()
    expect(page.get_by_text("private, loopback or link-local")).to_be_visible()
    journey.shot("sink-refused")

    page.get_by_label("Endpoint").fill(receiver.url + "/in")
    page.get_by_label("Allowed private networks").fill("127.0.0.1/32")
    page.get_by_role("button", name="Add sink").click()
    key = page.get_by_test_id("new-key").inner_text()
    assert key.startswith("whsec_")
    journey.shot("sink-key")

    open_nav(page, "Audit")
    page.get_by_role("link", name="SIEM sinks", exact=True).first.click()
    rows = page.get_by_test_id("sinks").locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("button", name="Send a test entry").click()
    expect(page.get_by_text("Sink siem accepted the test entry.")).to_be_visible()
    assert receiver.attempts == 1
    page.get_by_test_id("sinks").get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Sink siem is paused.")).to_be_visible()
    assert LogSink.objects.get(workspace=acme).enabled is False
    journey.shot("sinks", doc="siem-sinks")

    page.goto("/w/acme/alerts/")
    page.get_by_role("link", name="Webhook").click()
    page.get_by_label("Endpoint").fill(receiver.url + "/alerts")
    page.get_by_label("Allowed private networks").fill("127.0.0.1/32")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("new-key")).to_be_visible()
    page.get_by_role("button", name="Send a test alert").click()
    expect(page.get_by_text("The test alert was accepted.")).to_be_visible()
    expect(page.get_by_test_id("webhook-last-status")).to_contain_text("Delivered")
    assert AlertWebhook.objects.get(workspace=acme).last_status == "delivered"
    journey.shot("alert-webhook")
