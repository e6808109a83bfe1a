"""The dashboard's charts render in Chromium within a 1280 px window, with no horizontal scroll."""

from audit.log.recorder import write_entries
from tests.gateways.test_dashboard_charts import DAY, HOUR, calls
from tests.support.browser import Journey, needs_chromium

pytestmark = needs_chromium


def test_the_charts_fit_1280_px_without_horizontal_scroll(acme, alice, carol, acme_gateway, page):
    long_tool = "docs__" + "a-very-long-tool-name-" * 6
    dev = {"gateway": acme_gateway.slug, "gateway_id": acme_gateway.pk}
    write_entries(
        calls(acme, 12.0, 30.0, 45.0, user=alice, **dev)
        + calls(acme, 250.0, ago=5 * HOUR, user=carol, tool=long_tool, outcome="error", **dev)
        + calls(acme, 20.0, 35.0, 60.0, ago=9 * HOUR, user=alice, tool="time__zone", **dev)
        + calls(acme, 80.0, 90.0, ago=2 * DAY, user=carol, outcome="blocked", **dev)
        + calls(acme, 15.0, 25.0, 140.0, 40.0, ago=4 * DAY, user=alice, **dev)
    )
    journey = Journey(page, "dashboard-charts")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    for period in ("24h", "7d"):
        page.goto(f"/w/acme/?period={period}")
        charts = page.locator("svg.chart")
        charts.first.wait_for()
        assert charts.count() == 4, period
        journey.shot(period, doc="dashboard" if period == "7d" else "")
        scroll = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert scroll <= 0, f"the page scrolls {scroll} px sideways at {period}"
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 50, (period, i)
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, (period, i, box)
    calls_chart = page.get_by_role("img", name="Tool calls over time")
    assert calls_chart.locator("g.column").count() == 7
