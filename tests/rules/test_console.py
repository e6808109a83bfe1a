"""Console pages of rules: the list in evaluation order, the editor, toggles, reordering,
removal, the default set, and "try it" on a sample and on logged calls."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.log.recorder import write_entries
from gateways import services as gateway_services
from gateways.models import Assignment
from rules import services
from rules.detectors import REGISTRY
from rules.forms import DETECTOR_EXAMPLES
from rules.models import Rule
from teams.capabilities import RULES_MANAGE
from teams.models import ConfigChange
from tests.config.test_console_queries import MAX_QUERIES, crowd
from tests.support.audit_entries import call_hops
from tests.support.console import text

HTMX = {"HTTP_HX_REQUEST": "true"}
RULES = "/w/acme/rules/"


def form(**overrides):
    """A valid rule form as a browser posts it (checkboxes left out when unticked), with the
    settings written in the "Edit as JSON" boxes."""
    data = {
        "name": "redact-email",
        "description": "",
        "scope": "workspace",
        "gateway": "",
        "assignment": "",
        "direction": "both",
        "mode": "enforce",
        "enabled": "on",
        "tools_condition": "",
        "servers_condition": "",
        "teams_condition": "",
        "people_condition": "",
        "detector": "pii",
        "detector_config": '{"kinds": ["email"]}',
        "detector_as_json": "on",
        "action": "redact",
        "action_config": "",
        "action_as_json": "on",
        "sample": "",
        "sample_direction": "request",
        "tool": "",
        "logged_gateway": "",
        "limit": "20",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def rule(workspace, actor, name, **fields):
    fields.setdefault("detector", "pii")
    fields.setdefault("action", "flag")
    return services.create_rule(workspace=workspace, actor=actor, name=name, **fields)


@pytest.fixture
def assignment(acme_gateway):
    return Assignment.objects.get(gateway=acme_gateway)


def test_the_list_groups_rules_by_scope_in_evaluation_order(
    as_, acme, alice, acme_gateway, assignment
):
    rule(acme, alice, "server-rule", assignment=assignment, order=1)
    rule(acme, alice, "gateway-rule", gateway=acme_gateway, order=1)
    rule(acme, alice, "second", order=20)
    rule(acme, alice, "first", order=10, mode="monitor", enabled=False)
    body = text(as_(alice).get(RULES))
    positions = [
        body.index(marker)
        for marker in (
            "Workspace: every gateway",
            ">first<",
            ">second<",
            "Gateway Developer tools",
            ">gateway-rule<",
            "Server dev / time",
            ">server-rule<",
        )
    ]
    assert positions == sorted(positions)
    assert "Personal data" in body and "disabled" in body and "monitor" in body


def test_it_creates_a_rule_with_its_conditions_and_settings(as_, acme, alice):
    response = as_(alice).post(
        "/w/acme/rules/new/",
        form(
            tools_condition="github__*, jira__*\nfs__read",
            people_condition="Bob@Acme.test",
            alert="on",
            mode="monitor",
        ),
    )
    assert response.status_code == 302 and response["Location"] == RULES
    created = Rule.objects.for_workspace(acme).get(name="redact-email")
    assert created.scope == "workspace"
    assert created.conditions == {
        "tools": ["fs__read", "github__*", "jira__*"],
        "people": ["bob@acme.test"],
    }
    assert created.detector_config["kinds"] == ["email"]
    assert (created.action, created.mode, created.enabled, created.alert) == (
        "redact",
        "monitor",
        True,
        True,
    )
    assert ConfigChange.objects.for_workspace(acme).filter(action="rule.create").count() == 1


def test_a_new_rule_goes_last_in_its_scope(as_, acme, alice, acme_gateway):
    rule(acme, alice, "early", order=50)
    rule(acme, alice, "elsewhere", gateway=acme_gateway, order=500)
    assert as_(alice).post(RULES + "new/", form()).status_code == 302
    assert Rule.objects.for_workspace(acme).get(name="redact-email").order == 60


def test_it_creates_gateway_and_server_scoped_rules(as_, acme, alice, acme_gateway, assignment):
    client = as_(alice)
    assert client.post(RULES + "new/", form(scope="gateway", gateway="dev")).status_code == 302
    response = client.post(
        RULES + "new/", form(name="on-time", scope="assignment", assignment=str(assignment.pk))
    )
    assert response.status_code == 302
    by_name = {r.name: r for r in Rule.objects.for_workspace(acme)}
    assert by_name["redact-email"].gateway_id == acme_gateway.pk
    assert by_name["redact-email"].assignment_id is None
    assert by_name["on-time"].assignment_id == assignment.pk
    assert by_name["on-time"].gateway_id == acme_gateway.pk


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"detector_config": "{kinds: email}"}, "This is not valid JSON"),
        ({"detector_config": "[1]"}, "Write a JSON object"),
        (
            {"detector_config": '{"kinds": ["shoe-size"]}'},
            "Unknown PII kinds in &#x27;kinds&#x27;: shoe-size",
        ),
        (
            {"detector": "regex", "detector_config": '{"pattern": "("}'},
            "is not a valid regular expression",
        ),
        (
            {"detector": "regex", "detector_config": '{"pattern": "(a)\\\\1"}'},
            "uses a backreference (\\1)",
        ),
        (
            {"detector": "regex", "detector_config": '{"pattern": "(?=x)"}'},
            "uses a lookahead",
        ),
        (
            {"detector": "tool", "detector_config": '{"match": "x"}', "action": "redact"},
            "The tool detector supports these actions: block, flag.",
        ),
        ({"action": "replace"}, "Action &#x27;replace&#x27; needs &#x27;text&#x27;"),
        ({"name": "-bad"}, "A rule name is 1-100 letters"),
        ({"scope": "gateway"}, "Choose the gateway this rule applies to."),
    ],
)
def test_it_shows_validation_errors_on_the_form(as_, acme, alice, overrides, message):
    response = as_(alice).post(RULES + "new/", form(**overrides))
    assert response.status_code == 400
    assert message in text(response)
    assert not Rule.objects.for_workspace(acme).exists()


def test_the_scope_is_chosen_among_the_workspaces_own_gateways(as_, acme, alice, globex, mallory):
    gateway_services.create_gateway(workspace=globex, slug="theirs", name="T", actor=mallory)
    page = as_(alice).get(RULES + "new/")
    assert "theirs" not in text(page)
    response = as_(alice).post(RULES + "new/", form(scope="gateway", gateway="theirs"))
    assert response.status_code == 400
    assert "Select a valid choice" in text(response)
    assert not Rule.objects.exists()


def test_a_taken_name_is_refused_on_the_name_field(as_, acme, alice):
    rule(acme, alice, "redact-email")
    response = as_(alice).post(RULES + "new/", form())
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["name"] == ["A rule named 'redact-email' already exists in this scope."]


def test_every_detector_example_is_a_valid_configuration():
    for key, example in DETECTOR_EXAMPLES.items():
        first = example.split(" or ")[-1]
        REGISTRY[key].clean_config(json.loads(first))


def test_it_edits_a_rule_but_not_its_scope(as_, acme, alice, acme_gateway):
    existing = rule(acme, alice, "keep-scope", gateway=acme_gateway, action="redact")
    client = as_(alice)
    page = client.get(f"{RULES}{existing.pk}/")
    assert page.status_code == 200
    assert page.context["form"]["gateway"].value() == "dev"
    response = client.post(
        f"{RULES}{existing.pk}/",
        form(name="renamed", scope="workspace", action="mask", action_config='{"keep": 2}'),
    )
    assert response.status_code == 302
    existing.refresh_from_db()
    assert (existing.name, existing.action, existing.action_config) == (
        "renamed",
        "mask",
        {"keep": 2, "char": "*"},
    )
    assert existing.gateway_id == acme_gateway.pk
    bad = client.post(f"{RULES}{existing.pk}/", form(detector_config='{"colour": 1}'))
    assert bad.status_code == 400
    assert "Unknown detector settings: colour" in text(bad)


def test_toggles_switch_enabled_and_mode(as_, acme, alice):
    existing = rule(acme, alice, "switchable")
    client = as_(alice)
    url = f"{RULES}{existing.pk}/toggle/"
    assert client.post(url, {"set": "disable"}).status_code == 302
    existing.refresh_from_db()
    assert existing.enabled is False
    partial = client.post(url, {"set": "monitor"}, **HTMX)
    assert partial.status_code == 200
    assert "<html" not in text(partial) and f'id="rule-{existing.pk}"' in text(partial)
    existing.refresh_from_db()
    assert existing.mode == "monitor"
    client.post(url, {"set": "enable"})
    client.post(url, {"set": "enforce"})
    existing.refresh_from_db()
    assert (existing.enabled, existing.mode) == (True, "enforce")
    client.post(url, {"set": "explode"})
    existing.refresh_from_db()
    assert (existing.enabled, existing.mode) == (True, "enforce")


def test_it_moves_a_rule_within_its_scope(as_, acme, alice, acme_gateway):
    a = rule(acme, alice, "a", order=10)
    b = rule(acme, alice, "b", order=20)
    c = rule(acme, alice, "c", order=30)
    other = rule(acme, alice, "gw", gateway=acme_gateway, order=5)
    client = as_(alice)

    def names():
        return list(
            Rule.objects.for_workspace(acme)
            .filter(gateway__isnull=True)
            .order_by("order", "id")
            .values_list("name", flat=True)
        )

    assert client.post(f"{RULES}{c.pk}/move/", {"to": "up"}).status_code == 302
    assert names() == ["a", "c", "b"]
    partial = client.post(f"{RULES}{a.pk}/move/", {"to": "down"}, **HTMX)
    assert partial.status_code == 200 and "<html" not in text(partial)
    assert names() == ["c", "a", "b"]
    client.post(f"{RULES}{c.pk}/move/", {"to": "up"})  # already first
    assert names() == ["c", "a", "b"]
    other.refresh_from_db()
    assert other.order == 5
    assert b.pk in {r.pk for r in Rule.objects.filter(order=30)}


def test_deleting_asks_first(as_, acme, alice):
    existing = rule(acme, alice, "doomed")
    client = as_(alice)
    confirm = client.get(f"{RULES}{existing.pk}/delete/")
    assert confirm.status_code == 200 and "Delete the rule doomed?" in text(confirm)
    assert Rule.objects.filter(pk=existing.pk).exists()
    assert client.post(f"{RULES}{existing.pk}/delete/").status_code == 302
    assert not Rule.objects.filter(pk=existing.pk).exists()


def test_it_installs_the_default_rule_set_once(as_, acme, alice):
    client = as_(alice)
    first = client.post(RULES + "defaults/", follow=True)
    assert "Installed 3 rules" in text(first)
    second = client.post(RULES + "defaults/", follow=True)
    assert "already installed" in text(second)
    assert Rule.objects.for_workspace(acme).count() == 3


def test_try_it_on_a_sample_shows_the_rewritten_payload_for_an_unsaved_rule(as_, acme, alice):
    sample = {"name": "mail__send", "arguments": {"to": "jo@example.com", "n": 1}}
    response = as_(alice).post(
        RULES + "new/try/", form(sample=json.dumps(sample), run="sample"), **HTMX
    )
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    result = response.context["result"]
    assert result["modified"] and not result["blocked"]
    assert result["payload"]["arguments"] == {"to": "[REDACTED:EMAIL]", "n": 1}
    assert "[REDACTED:EMAIL]" in body and "jo@example.com" not in body.split("try-payload")[1]
    assert "<code>email</code> × 1" in body
    assert not Rule.objects.for_workspace(acme).exists()


def test_try_it_shows_a_block_and_works_without_javascript(as_, acme, alice):
    existing = rule(acme, alice, "no-deletes", detector="tool", detector_config={"match": "x"})
    response = as_(alice).post(
        f"{RULES}{existing.pk}/try/",
        form(
            name="no-deletes",
            detector="tool",
            detector_config='{"match": "github__delete_*"}',
            action="block",
            sample='{"name": "github__delete_repo", "arguments": {}}',
            run="sample",
        ),
    )
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body and "Blocked by rule &#x27;no-deletes&#x27;." in body
    existing.refresh_from_db()
    assert existing.detector_config == {"tools": ["x"], "arguments": []}


def test_try_it_reports_bad_samples_and_bad_rules(as_, acme, alice):
    client = as_(alice)
    bad_json = client.post(RULES + "new/try/", form(sample="{nope", run="sample"), **HTMX)
    assert bad_json.status_code == 400 and "This is not valid JSON" in text(bad_json)
    empty = client.post(RULES + "new/try/", form(run="sample"), **HTMX)
    assert "Paste a JSON payload" in text(empty)
    bad_rule = client.post(
        RULES + "new/try/",
        form(detector="regex", detector_config='{"pattern": "("}', sample="{}", run="sample"),
        **HTMX,
    )
    assert bad_rule.status_code == 400
    assert "Fix the rule first" in text(bad_rule)
    assert "is not a valid regular expression" in text(bad_rule)


def test_try_it_on_logged_calls_lists_what_it_would_have_done(as_, acme, alice, acme_gateway):
    write_entries(
        call_hops(acme, payload={"name": "mail__send", "arguments": {"to": "jo@example.com"}})
        + call_hops(acme, payload={"name": "time__now", "arguments": {}})
        + call_hops(acme, gateway="other", payload={"arguments": {"to": "al@example.com"}})
    )
    response = as_(alice).post(
        RULES + "new/try/",
        form(action="flag", run="logged", logged_gateway="dev", limit="10"),
        **HTMX,
    )
    assert response.status_code == 200
    calls = response.context["result"]["calls"]
    assert [(c["direction"], c["tool"]) for c in calls] == [("request", "time__now")]
    assert calls[0]["events"][0]["kinds"] == {"email": 1}
    body = text(response)
    assert "Recent calls of dev" in body and "<code>email</code> × 1" in body
    assert "jo@example.com" not in body


def test_members_see_the_rules_but_no_edit_controls(as_, acme, alice, bob):
    existing = rule(acme, alice, "visible")
    client = as_(bob)
    page = client.get(RULES)
    assert page.status_code == 200
    body = text(page)
    assert "visible" in body
    for control in ("New rule", "Install the default rule set", "Disable", "Move visible up"):
        assert control not in body
    assert f"{RULES}{existing.pk}/" not in body


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "new/", None),
        ("post", "new/", form()),
        ("post", "new/try/", form(sample="{}", run="sample")),
        ("post", "defaults/", {}),
        ("get", "{pk}/", None),
        ("post", "{pk}/", form()),
        ("post", "{pk}/try/", form(sample="{}", run="sample")),
        ("post", "{pk}/toggle/", {"set": "disable"}),
        ("post", "{pk}/move/", {"to": "up"}),
        ("get", "{pk}/delete/", None),
        ("post", "{pk}/delete/", {}),
    ],
)
def test_changes_require_rules_manage(as_, acme, alice, bob, method, path, data):
    existing = rule(acme, alice, "guarded")
    client = as_(bob)
    url = RULES + path.format(pk=existing.pk)
    response = getattr(client, method)(url, data) if data is not None else client.get(url)
    assert response.status_code == 403
    assert RULES_MANAGE in text(response)
    existing.refresh_from_db()
    assert (existing.name, existing.enabled) == ("guarded", True)
    assert Rule.objects.for_workspace(acme).count() == 1


def test_rules_manage_alone_is_enough(console_as_dave_with, acme):
    client = console_as_dave_with({RULES_MANAGE})
    assert "New rule" in text(client.get(RULES))
    assert client.post(RULES + "new/", form()).status_code == 302


def test_it_hides_other_workspaces(as_, acme, alice, globex, mallory):
    theirs = rule(globex, mallory, "theirs")
    client = as_(alice)
    posted = form(set="disable", to="up", run="sample", sample="{}")
    for path in ("", "try/", "toggle/", "move/", "delete/"):
        url = f"{RULES}{theirs.pk}/{path}"
        assert client.get(url).status_code in (404, 405)
        assert client.post(url, posted).status_code == 404
    assert client.get("/w/globex/rules/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.enabled
    assert "theirs" not in text(client.get(RULES))


def test_the_editor_costs_a_fixed_number_of_queries(
    as_, acme, alice, acme_gateway, django_assert_max_num_queries
):
    existing = rule(acme, alice, "measured")
    client = as_(alice)
    pages = ("/w/acme/rules/new/", f"/w/acme/rules/{existing.pk}/")

    def counts():
        out = []
        for path in pages:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(path).status_code == 200
            out.append(len(queries))
        return out

    crowd(acme, alice, acme_gateway, 2)
    few = counts()
    crowd(acme, alice, acme_gateway, 40)
    assert counts() == few
    for path in pages:
        with django_assert_max_num_queries(MAX_QUERIES):
            client.get(path)
