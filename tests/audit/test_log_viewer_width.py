"""The log viewer fits a 1280 px window however long a logged tool name or resource URI is, by
hop and by call with a call's hops opened."""

import time

from playwright.sync_api import expect

from tests.audit.test_log_console import call
from tests.support.browser import Journey, needs_chromium

pytestmark = needs_chromium

LONG_URI = "mcpgw://docs/file:///srv/share/" + "very-long-directory-name/" * 20 + "report.pdf"


def test_long_subjects_wrap_and_every_column_stays_on_screen(acme, alice, page):
    call(acme, user=alice, tool=LONG_URI, method="resources/read")
    call(acme, user=alice, tool="docs__" + "x" * 60, outcome="error")
    journey = Journey(page, "log-width")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    page.goto("/w/acme/logs/?view=hops")
    table = page.get_by_test_id("log-entries")
    table.wait_for()
    journey.shot("entries")
    overflow = page.evaluate(
        "() => { const wrap = document.querySelector('.table-wrap:has([data-testid=log-entries])');"
        " return wrap.scrollWidth - wrap.clientWidth; }"
    )
    assert overflow <= 1, f"the table is {overflow} px wider than its frame"
    timeline = table.get_by_role("link", name="Timeline").first
    box = timeline.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280


def _overflow(page, test_id):
    return page.evaluate(
        "(id) => { const wrap = document.querySelector(`.table-wrap:has([data-testid=${id}])`);"
        " return wrap.scrollWidth - wrap.clientWidth; }",
        test_id,
    )


def test_opening_a_call_shows_its_hops_and_the_page_still_fits(acme, alice, page):
    call(acme, user=alice, tool="time__now", at=time.time() - 5)
    long_one = call(acme, user=alice, tool=LONG_URI, method="resources/read", outcome="error")
    journey = Journey(page, "log-calls")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    page.goto("/w/acme/logs/")
    table = page.get_by_test_id("log-calls")
    rows = table.locator("tr.call-row")
    expect(rows).to_have_count(2)
    hops = table.locator(f'tbody[data-call="{long_one}"]').get_by_test_id("call-hops")
    expect(hops).to_be_hidden()
    expect(rows.first).to_contain_text("Error")
    table.get_by_text("Show its 4 hops", exact=False).first.click()
    expect(hops).to_be_visible()
    expect(hops.locator("tbody tr")).to_have_count(4)
    expect(hops.locator("tbody tr").first).to_contain_text("client.request")
    expect(hops.locator("tbody tr").last).to_contain_text("client.response")
    # The other call stays closed.
    expect(table.get_by_test_id("call-hops").nth(1)).to_be_hidden()
    journey.shot("opened")
    assert _overflow(page, "log-calls") <= 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    for target in (
        rows.first.get_by_role("link", name="Timeline"),
        hops.locator("tbody tr").last.locator(".badge"),
    ):
        box = target.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280
