"""The rule editor's typed settings: a field per setting of the chosen detector and action,
saving what the JSON path saves, errors beside the field, switching detector with and without
JavaScript, the expert JSON box, and "try it" on typed settings."""

import json

import pytest

from rules import services
from rules.actions import SETTINGS as ACTION_SETTINGS
from rules.detectors import REGISTRY
from rules.models import Rule
from tests.rules.test_console import HTMX, RULES, form
from tests.support.api import error
from tests.support.console import text


def typed(detector="pii", action="flag", **settings):
    """The rule form as a browser posts it with typed settings (no JSON box ticked)."""
    data = form(
        detector=detector,
        detector_config="",
        detector_as_json=None,
        detector_shown=detector,
        action=action,
        action_as_json=None,
        action_shown=action,
    )
    data.update(settings)
    return data


def expert(detector, config, action="flag", action_config=None, **overrides):
    """The same rule written in the "Edit as JSON" boxes."""
    return form(
        detector=detector,
        detector_config=json.dumps(config),
        action=action,
        action_config=json.dumps(action_config or {}),
        **overrides,
    )


# Per detector: the typed fields as posted, the same settings as JSON, and what is saved.
DETECTOR_CASES = {
    "secrets": (
        {"detector__kinds": ["github", "aws"], "detector__exclude": ["github_pat"]},
        {"kinds": ["github", "aws"], "exclude": ["github_pat"]},
        {"kinds": ["aws", "github"], "exclude": ["github_pat"]},
    ),
    "pii": (
        {"detector__kinds": ["email", "ip"]},
        {"kinds": ["email", "ip"]},
        {"kinds": ["email", "ipv4", "ipv6"]},
    ),
    "regex": (
        {
            "detector__pattern": "ACME-[0-9]{6}",
            "detector__kind": "ticket",
            "detector__ignore_case": "on",
        },
        {"pattern": "ACME-[0-9]{6}", "kind": "ticket", "ignore_case": True},
        {"pattern": "ACME-[0-9]{6}", "kind": "ticket", "ignore_case": True, "multiline": False},
    ),
    "keywords": (
        {"detector__words": "project falcon\n\n secret plan \n", "detector__whole_word": "on"},
        {"words": ["secret plan", "project falcon"]},
        {
            "words": ["project falcon", "secret plan"],
            "whole_word": True,
            "case_sensitive": False,
            "kind": "keyword",
        },
    ),
    "tool": (
        {
            "detector__tools": "github__delete_*\nfs__write",
            "detector__arguments": '[{"path": "path", "prefix": "/etc"}]',
        },
        {
            "match": ["github__delete_*", "fs__write"],
            "arguments": [{"path": "path", "prefix": "/etc"}],
        },
        {
            "tools": ["fs__write", "github__delete_*"],
            "arguments": [{"path": "path", "prefix": "/etc", "ignore_case": False}],
        },
    ),
    "size": (
        {"detector__max_bytes": "2048"},
        {"max_bytes": 2048},
        {"max_bytes": 2048},
    ),
    "injection": (
        {"detector__extra_phrases": "disregard the rules\nforget your orders"},
        {"extra_phrases": ["disregard the rules", "forget your orders"]},
        {"extra_phrases": ["disregard the rules", "forget your orders"]},
    ),
    "webhook": (
        {
            "detector__url": "http://127.0.0.1:9/decide",
            "detector__timeout_ms": "500",
            "detector__fail": "open",
            "detector__allow_private": "127.0.0.1/32",
        },
        {
            "url": "http://127.0.0.1:9/decide",
            "timeout_ms": 500,
            "fail": "open",
            "allow_private": ["127.0.0.1/32"],
            "send_body": False,
        },
        {
            "url": "http://127.0.0.1:9/decide",
            "timeout_ms": 500,
            "fail": "open",
            "allow_private": ["127.0.0.1/32"],
            "send_body": False,
        },
    ),
}

# Per action: its typed fields, the same as JSON, and what is saved.
ACTION_CASES = {
    "block": ({}, {}, {}),
    "redact": ({}, {}, {}),
    "flag": ({}, {}, {}),
    "replace": ({"action__text": "[removed]"}, {"text": "[removed]"}, {"text": "[removed]"}),
    "mask": (
        {"action__keep": "2", "action__char": "#"},
        {"keep": 2, "char": "#"},
        {"keep": 2, "char": "#"},
    ),
    "hash": ({"action__length": ""}, {}, {"length": 10}),
}


def saved(acme, name) -> Rule:
    return Rule.objects.for_workspace(acme).get(name=name)


def test_every_detector_and_action_is_covered_here():
    assert set(DETECTOR_CASES) == set(REGISTRY)
    assert set(ACTION_CASES) == {choice for choice, _ in Rule.Action.choices}


@pytest.mark.parametrize("detector", sorted(REGISTRY))
def test_a_detector_shows_a_field_per_setting(as_, acme, alice, detector):
    response = as_(alice).get(f"{RULES}settings/?detector={detector}", **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and 'id="detector-settings"' in body
    for setting in REGISTRY[detector].settings:
        assert f'name="detector__{setting.name}"' in body
        assert setting.label in body
    assert 'name="detector_config"' in body and "as JSON" in body


@pytest.mark.parametrize("action", sorted(ACTION_CASES))
def test_an_action_shows_a_field_per_setting(as_, acme, alice, action):
    body = text(as_(alice).get(f"{RULES}settings/?action={action}", **HTMX))
    settings = ACTION_SETTINGS.get(action, ())
    for setting in settings:
        assert f'name="action__{setting.name}"' in body
    assert ("takes no settings" in body) == (not settings)


@pytest.mark.parametrize("detector", sorted(DETECTOR_CASES))
def test_typed_detector_settings_save_what_the_json_saves(as_, acme, alice, detector):
    fields, config, expected = DETECTOR_CASES[detector]
    action = "block" if REGISTRY[detector].scope == "call" else "redact"
    client = as_(alice)
    response = client.post(RULES + "new/", typed(detector, action, name="typed", **fields))
    assert response.status_code == 302, response.context["form"].errors
    response = client.post(RULES + "new/", expert(detector, config, action, name="as-json"))
    assert response.status_code == 302, response.context["form"].errors
    assert saved(acme, "typed").detector_config == expected
    assert saved(acme, "as-json").detector_config == expected


@pytest.mark.parametrize("action", sorted(ACTION_CASES))
def test_typed_action_settings_save_what_the_json_saves(as_, acme, alice, action):
    fields, config, expected = ACTION_CASES[action]
    client = as_(alice)
    posted = typed("pii", action, name="typed", detector__kinds=["email"], **fields)
    assert client.post(RULES + "new/", posted).status_code == 302
    as_json = expert("pii", {"kinds": ["email"]}, action, config, name="as-json")
    assert client.post(RULES + "new/", as_json).status_code == 302
    assert saved(acme, "typed").action_config == expected
    assert saved(acme, "as-json").action_config == expected
    assert saved(acme, "typed").detector_config == saved(acme, "as-json").detector_config


@pytest.mark.parametrize(
    ("detector", "action", "fields", "field", "message"),
    [
        ("regex", "flag", {"detector__pattern": "(a)\\1"}, "detector__pattern", "backreference"),
        ("regex", "flag", {"detector__pattern": "(?=x)"}, "detector__pattern", "a lookahead"),
        ("regex", "flag", {"detector__pattern": "("}, "detector__pattern", "not a valid regular"),
        ("regex", "flag", {"detector__pattern": ""}, "detector__pattern", "'pattern' is required"),
        ("regex", "flag", {"detector__pattern": "a*"}, "detector__pattern", "empty string"),
        (
            "regex",
            "flag",
            {"detector__pattern": "x", "detector__kind": "Bad Kind"},
            "detector__kind",
            "'kind' must be",
        ),
        ("size", "block", {"detector__max_bytes": "0"}, "detector__max_bytes", "from 1 to"),
        ("size", "block", {"detector__max_bytes": "lots"}, "detector__max_bytes", "whole number"),
        ("size", "block", {}, "detector__max_bytes", "'max_bytes' is required"),
        (
            "webhook",
            "block",
            {"detector__url": "https://decide.example.com/", "detector__timeout_ms": "5"},
            "detector__timeout_ms",
            "'timeout_ms' must be an integer from 10 to 30000",
        ),
        (
            "webhook",
            "block",
            {"detector__url": "https://decide.example.com/", "detector__fail": "sometimes"},
            "detector__fail",
            "'fail' must be",
        ),
        (
            "webhook",
            "block",
            {"detector__url": "http://decide.example.com/"},
            "detector__url",
            "must use https",
        ),
        ("pii", "flag", {"detector__kinds": ["email", "shoe"]}, "detector__kinds", "shoe"),
        ("secrets", "flag", {"detector__exclude": ["nope"]}, "detector__exclude", "nope"),
        ("keywords", "flag", {"detector__words": " \n "}, "detector__words", "non-empty list"),
        ("tool", "block", {"detector__arguments": "[{"}, "detector__arguments", "not valid JSON"),
        (
            "tool",
            "block",
            {"detector__arguments": '[{"path": "p", "starts": "/"}]'},
            "detector__arguments",
            "unknown keys: starts",
        ),
        ("tool", "block", {}, "detector__tools", "Give 'match'"),
        ("pii", "mask", {"action__keep": "99"}, "action__keep", "from 0 to 32"),
        ("pii", "mask", {"action__char": "ab"}, "action__char", "1 character"),
        ("pii", "hash", {"action__length": "3"}, "action__length", "from 6 to 64"),
    ],
)
def test_a_bad_setting_is_refused_beside_its_field(
    as_, acme, alice, detector, action, fields, field, message
):
    response = as_(alice).post(RULES + "new/", typed(detector, action, **fields))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert 'aria-invalid="true"' in text(response) or message in text(response)
    assert not Rule.objects.for_workspace(acme).exists()


def test_an_unknown_detector_or_action_is_a_clear_400(as_, acme, alice):
    client = as_(alice)
    assert client.get(f"{RULES}settings/?detector=nope", **HTMX).status_code == 400
    assert client.get(f"{RULES}settings/?action=explode", **HTMX).status_code == 400


def test_choosing_another_detector_swaps_its_fields_in(as_, acme, alice):
    page = text(as_(alice).get(RULES + "new/"))
    # The select asks the server for the chosen detector's fields and swaps them in.
    assert f'hx-get="{RULES}settings/"' in page and 'hx-target="#detector-settings"' in page
    fragment = text(as_(alice).get(f"{RULES}settings/?detector=regex", **HTMX))
    assert 'name="detector__pattern"' in fragment
    assert 'name="detector__kinds"' not in fragment
    assert 'name="detector_shown" value="regex"' in fragment


def test_without_javascript_the_form_shows_the_new_detectors_fields(as_, acme, alice):
    # The person chose regex but the page still shows the PII fields; "Show the settings"
    # posts the form back, saving nothing, and keeps what was typed elsewhere.
    posted = typed("pii", "flag", name="tickets", detector__kinds=["email"])
    posted.update(detector="regex", refresh="detector", description="Ticket numbers")
    response = as_(alice).post(RULES + "new/", posted)
    assert response.status_code == 200
    body = text(response)
    assert 'name="detector__pattern"' in body and 'name="detector__kinds"' not in body
    assert 'value="tickets"' in body and "Ticket numbers" in body
    assert 'name="detector_shown" value="regex"' in body
    assert not Rule.objects.for_workspace(acme).exists()
    # Saving straight away, without showing the fields, asks for the new detector's settings.
    posted.pop("refresh")
    refused = as_(alice).post(RULES + "new/", posted)
    assert refused.status_code == 400
    assert "'pattern' is required" in refused.context["form"].errors["detector__pattern"][0]


def test_showing_the_fields_again_keeps_the_same_detectors_values(as_, acme, alice):
    posted = typed("keywords", "mask", detector__words="falcon", detector__case_sensitive="on")
    posted.update(action="hash", refresh="action")
    body = text(as_(alice).post(RULES + "new/", posted))
    assert ">\nfalcon</textarea>" in body
    assert 'name="detector__whole_word" id="id_detector__whole_word">' in body  # unticked kept
    assert 'name="detector__case_sensitive" id="id_detector__case_sensitive" checked' in body
    assert 'name="action__length"' in body and 'name="action__keep"' not in body


def test_editing_shows_the_saved_settings_in_fields_and_as_json(as_, acme, alice):
    rule = services.create_rule(
        workspace=acme,
        actor=alice,
        name="tickets",
        detector="regex",
        detector_config={"pattern": "ACME-[0-9]{6}", "kind": "ticket"},
        action="mask",
        action_config={"keep": 2},
    )
    client = as_(alice)
    body = text(client.get(f"{RULES}{rule.pk}/"))
    assert 'name="detector__pattern" value="ACME-[0-9]{6}"' in body
    assert 'name="detector__kind" value="ticket"' in body
    assert 'name="action__keep" value="2"' in body
    assert "&quot;pattern&quot;: &quot;ACME-[0-9]{6}&quot;" in body  # the JSON box
    # Saving the page as shown, through the fields, changes nothing.
    before = (rule.detector_config, rule.action_config)
    posted = typed(
        "regex",
        "mask",
        name="tickets",
        detector__pattern="ACME-[0-9]{6}",
        detector__kind="ticket",
        action__keep="2",
        action__char="*",
    )
    assert client.post(f"{RULES}{rule.pk}/", posted).status_code == 302
    rule.refresh_from_db()
    assert (rule.detector_config, rule.action_config) == before


def test_the_json_box_wins_when_ticked_and_its_errors_show_there(as_, acme, alice):
    client = as_(alice)
    # Junk in the fields does not matter when the JSON box is used.
    posted = expert("size", {"max_bytes": 100}, "block", detector__max_bytes="lots")
    assert client.post(RULES + "new/", posted).status_code == 302
    assert saved(acme, "redact-email").detector_config == {"max_bytes": 100}
    bad = client.post(RULES + "new/", expert("size", {"max_bytes": 0}, "block", name="too-small"))
    assert bad.status_code == 400
    errors = bad.context["form"].errors
    assert "'max_bytes' must be an integer" in errors["detector_config"][0]
    assert "detector__max_bytes" not in errors
    assert "<details open>" in text(bad)  # the box with the error is shown open


def test_try_it_runs_the_typed_settings(as_, acme, alice):
    sample = {"name": "tickets__get", "arguments": {"id": "ACME-123456", "n": 1}}
    response = as_(alice).post(
        RULES + "new/try/",
        typed(
            "regex",
            "mask",
            detector__pattern="ACME-[0-9]{6}",
            detector__kind="ticket",
            action__keep="2",
            action__char="#",
            sample=json.dumps(sample),
            run="sample",
        ),
        **HTMX,
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result["payload"]["arguments"] == {"id": "#########56", "n": 1}
    assert "<code>ticket</code> × 1" in text(response)
    bad = as_(alice).post(
        RULES + "new/try/",
        typed("regex", "flag", detector__pattern="(a)\\1", sample="{}", run="sample"),
        **HTMX,
    )
    assert bad.status_code == 400 and "Pattern: &#x27;pattern&#x27; uses a backreference" in text(
        bad
    )
    assert not Rule.objects.for_workspace(acme).exists()


def test_the_api_still_takes_json_and_refuses_bad_settings_with_a_400(api, acme, alice):
    client = api.as_(alice)
    base = "/api/v1/workspaces/acme/rules/"
    ok = client.post(
        base,
        {"name": "tickets", "detector": "regex", "detector_config": {"pattern": "ACME-[0-9]+"}},
        format="json",
    )
    assert ok.status_code == 201
    assert ok.json()["detector_config"]["kind"] == "custom"
    bad = client.post(
        base,
        {"name": "t2", "detector": "size", "detector_config": {"max_bytes": 0}},
        format="json",
    )
    assert bad.status_code == 400
    refused = error(bad)
    assert refused["attr"] == "detector_config"
    assert "'max_bytes' must be an integer" in refused["detail"]
