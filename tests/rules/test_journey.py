"""Browser journeys through the rules pages: install the defaults, write a rule, try it on a
sample before saving it, then switch a rule off in place (htmx); and write a rule in the typed
settings fields of the detector and action chosen."""

from rules.models import Rule
from tests.support.browser import Journey, needs_chromium

pytestmark = needs_chromium

SAMPLE = '{"name": "mail__send", "arguments": {"to": "jo@example.com", "body": "hi"}}'


def test_an_admin_writes_a_rule_and_tries_it_before_saving(acme, alice, page):
    journey = Journey(page, "rules")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    page.goto("/w/acme/rules/")
    page.get_by_role("button", name="Install the default rule set").click()
    page.get_by_text("Installed 3 rules").wait_for()
    journey.shot("defaults")

    page.get_by_role("link", name="New rule").click()
    # Loaded, so htmx (a deferred script) is there to hear the detector change below.
    page.wait_for_url("**/rules/new/")
    page.get_by_label("Name").fill("redact-email")
    page.get_by_label("Detector", exact=True).select_option("pii")
    # The chosen detector's settings are swapped in: wait, or the swap closes what is opened next.
    page.locator('input[name="detector_shown"][value="pii"]').wait_for(state="attached")
    page.get_by_label("Action", exact=True).select_option("redact")
    page.get_by_label("Sample").fill(SAMPLE)
    # Settings that are not JSON: the 400 answer's errors are swapped in, not dropped.
    page.get_by_text("Edit the detector settings as JSON").click()
    page.get_by_label("Save the detector settings from this JSON, not the fields").check()
    page.get_by_label("Detector settings (JSON)").fill('{"kinds": [email')
    page.get_by_role("button", name="Try on the sample").click()
    page.get_by_test_id("try-panel").get_by_text("Fix the rule first").wait_for()
    assert page.url.endswith("/w/acme/rules/new/")

    page.get_by_label("Detector settings (JSON)").fill('{"kinds": ["email"]}')
    page.get_by_role("button", name="Try on the sample").click()
    payload = page.get_by_test_id("try-payload")
    payload.wait_for()
    assert "[REDACTED:EMAIL]" in payload.inner_text()
    assert "jo@example.com" not in payload.inner_text()
    assert not Rule.objects.filter(name="redact-email").exists()
    assert page.url.endswith("/w/acme/rules/new/")  # swapped in place, not a new page
    journey.shot("try-it", doc="rules-try-it")

    page.get_by_role("button", name="Create rule").click()
    page.get_by_text("Rule redact-email was created.").wait_for()
    created = Rule.objects.get(workspace=acme, name="redact-email")
    assert created.detector_config == {"kinds": ["email"]} and created.action == "redact"

    row = page.locator(f"#rule-{created.pk}")
    row.get_by_role("button", name="Disable").click()
    page.locator(f"#rule-{created.pk}").get_by_role("button", name="Enable").wait_for()
    created.refresh_from_db()
    assert created.enabled is False
    assert page.url.endswith("/w/acme/rules/") and page.get_by_text("was updated").count() == 0
    journey.shot("list")


def test_an_admin_writes_a_rule_in_the_typed_settings_fields(acme, alice, page):
    journey = Journey(page, "rules-typed")
    journey.sign_in("alice@acme.test")
    page.wait_for_url("**/")
    page.goto("/w/acme/rules/new/")
    page.get_by_label("Name").fill("mask-tickets")
    # Choosing a detector swaps its fields in without leaving the page.
    page.get_by_label("Detector", exact=True).select_option("regex")
    settings = page.get_by_test_id("detector-settings")
    settings.get_by_label("Pattern").wait_for()
    assert settings.get_by_label("PII kinds").count() == 0
    settings.get_by_label("Pattern").fill("(a)\\1")
    settings.get_by_label("Kind").fill("ticket")
    page.get_by_label("Action", exact=True).select_option("mask")
    page.get_by_test_id("action-settings").get_by_label("Characters kept").fill("2")
    page.get_by_role("button", name="Create rule").click()
    # RE2 refuses the backreference: the error sits beside the pattern, what was typed stays.
    page.get_by_text("uses a backreference").wait_for()
    assert page.get_by_label("Kind").input_value() == "ticket"
    journey.shot("error")

    page.get_by_label("Pattern").fill("ACME-[0-9]{6}")
    page.get_by_label("Sample").fill('{"name": "t__get", "arguments": {"id": "ACME-123456"}}')
    page.get_by_role("button", name="Try on the sample").click()
    payload = page.get_by_test_id("try-payload")
    payload.wait_for()
    assert "****56" in payload.inner_text() and "ACME-123456" not in payload.inner_text()

    page.get_by_role("button", name="Create rule").click()
    page.get_by_text("Rule mask-tickets was created.").wait_for()
    created = Rule.objects.get(workspace=acme, name="mask-tickets")
    assert created.detector_config == {
        "pattern": "ACME-[0-9]{6}",
        "kind": "ticket",
        "ignore_case": False,
        "multiline": False,
    }
    assert (created.action, created.action_config) == ("mask", {"keep": 2, "char": "*"})
    row = page.locator(f"#rule-{created.pk}")
    row.get_by_role("link", name="mask-tickets").wait_for()
    assert "Custom regular expression" in row.inner_text()
    journey.shot("list")
