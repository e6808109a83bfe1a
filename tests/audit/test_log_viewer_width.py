"""The log viewer fits a 1280 px window however long a logged tool name or resource URI is."""

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
    page.goto("/w/acme/logs/")
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
