"""`manage.py apply` and `rules:` lists at workspace, gateway and assignment level."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import CommandError

from apply.schema import parse
from core import config_events
from rules.models import Rule
from teams.models import Workspace
from tests.apply.test_apply_errors import position_of
from tests.support.config_files import ACME_YAML, row_counts

pytestmark = pytest.mark.django_db

RULES_YAML = (
    ACME_YAML.replace(
        "gateways:\n",
        """\
rules:
  - name: redact-secrets
    detector: {type: secrets}
    action: redact
    direction: response
  - name: flag-pii
    detector: {type: pii, kinds: [email, card]}
    mode: monitor
gateways:
""",
    )
    .replace(
        "      - {server: time, namespace: time, tools: {mode: all}}\n",
        """\
      - server: time
        namespace: time
        tools: {mode: all}
        rules:
          - name: mask-cards
            detector: {type: pii, kinds: [card]}
            action: {type: mask, keep: 4}
            order: 5
""",
    )
    .replace(
        "    teams: [eng]\n    assignments:",
        """\
    teams: [eng]
    rules:
      - name: no-deletes
        detector: {type: tool, match: "ev__delete_*"}
        action: block
        direction: request
        conditions: {teams: [eng]}
        alert: true
    assignments:""",
    )
)


def rules_of(workspace) -> dict:
    return {
        (
            r.gateway.slug if r.gateway else "",
            r.assignment.namespace if r.assignment else "",
            r.name,
        ): r
        for r in Rule.objects.for_workspace(workspace).select_related("gateway", "assignment")
    }


def test_it_creates_rules_in_each_scope(config_file, run):
    out = run("apply", config_file(RULES_YAML))

    assert "created   rule redact-secrets" in out
    assert "created   rule dev/no-deletes" in out
    assert "created   rule dev/time/mask-cards" in out
    rules = rules_of(Workspace.objects.get(slug="acme"))
    assert sorted(rules) == [
        ("", "", "flag-pii"),
        ("", "", "redact-secrets"),
        ("dev", "", "no-deletes"),
        ("dev", "time", "mask-cards"),
    ]
    secrets = rules[("", "", "redact-secrets")]
    assert (secrets.detector, secrets.action, secrets.direction, secrets.mode) == (
        "secrets",
        "redact",
        "response",
        "enforce",
    )
    pii = rules[("", "", "flag-pii")]
    assert (pii.action, pii.mode, pii.order) == ("flag", "monitor", 20)
    assert set(pii.detector_config["kinds"]) == {"email", "card"}
    blocker = rules[("dev", "", "no-deletes")]
    assert blocker.detector_config["tools"] == ["ev__delete_*"]
    assert (blocker.conditions, blocker.alert) == ({"teams": ["eng"]}, True)
    masker = rules[("dev", "time", "mask-cards")]
    assert (masker.action, masker.action_config, masker.order) == (
        "mask",
        {"keep": 4, "char": "*"},
        5,
    )
    assert masker.assignment.server.name == "time"


def test_a_dry_run_reports_rules_and_saves_none(config_file, run):
    out = run("apply", config_file(RULES_YAML), "--dry-run")

    assert "13 created, 0 changed, 0 unchanged, 0 deleted (dry run: nothing was saved)" in out
    assert not Rule.objects.exists()


def test_a_second_apply_changes_nothing_and_leaves_running_gateways_alone(
    config_file, run, django_capture_on_commit_callbacks
):
    path = config_file(RULES_YAML)
    with django_capture_on_commit_callbacks(execute=True):
        run("apply", path)
    acme = Workspace.objects.get(slug="acme")
    epoch = cache.get(config_events.epoch_key(acme.pk))
    assert epoch is not None
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True):
        out = run("apply", path)

    assert out.splitlines()[-1] == "0 created, 0 changed, 13 unchanged, 0 deleted"
    assert row_counts() == before
    assert cache.get(config_events.epoch_key(acme.pk)) == epoch


def test_a_changed_rule_is_updated_and_reaches_the_gateways(
    config_file, run, django_capture_on_commit_callbacks
):
    run("apply", config_file(RULES_YAML))
    acme = Workspace.objects.get(slug="acme")
    epoch = cache.get(config_events.epoch_key(acme.pk))
    changed = RULES_YAML.replace("action: {type: mask, keep: 4}", "action: {type: hash}")

    with django_capture_on_commit_callbacks(execute=True):
        out = run("apply", config_file(changed))

    assert "changed   rule dev/time/mask-cards (action, action_config)" in out
    masker = rules_of(acme)[("dev", "time", "mask-cards")]
    assert (masker.action, masker.action_config) == ("hash", {"length": 10})
    assert cache.get(config_events.epoch_key(acme.pk)) != epoch


def test_unlisted_rules_are_kept_unless_pruned(config_file, run):
    run("apply", config_file(RULES_YAML))
    acme = Workspace.objects.get(slug="acme")
    fewer = RULES_YAML.replace("  - name: flag-pii\n", "  - name: flag-pii-2\n")
    fewer = fewer.replace(
        """\
        rules:
          - name: mask-cards
            detector: {type: pii, kinds: [card]}
            action: {type: mask, keep: 4}
            order: 5
""",
        "",
    )

    out = run("apply", config_file(fewer))
    assert "created   rule flag-pii-2" in out
    assert len(rules_of(acme)) == 5

    out = run("apply", config_file(fewer), prune=True)
    assert "deleted   rule flag-pii" in out
    assert "deleted   rule dev/time/mask-cards" in out
    assert sorted(name for _, _, name in rules_of(acme)) == [
        "flag-pii-2",
        "no-deletes",
        "redact-secrets",
    ]


RULE_CASES = [
    (
        "unknown detector",
        "{type: secrets}",
        "{type: secretz}",
        "{type: secretz}",
        ["rules[0].detector", "Unknown detector 'secretz'"],
    ),
    (
        "bad detector setting",
        "{type: pii, kinds: [email, card]}",
        "{type: pii, kinds: [email, shoe]}",
        "{type: pii, kinds: [email, shoe]}",
        ["rules[1].detector", "shoe"],
    ),
    (
        "action the detector cannot take",
        "action: block\n        direction: request",
        "action: redact\n        direction: request",
        "redact\n        direction: request",
        ["gateways[0].rules[0].action", "tool detector supports these actions"],
    ),
    (
        "bad action setting",
        "{type: mask, keep: 4}",
        "{type: mask, keep: 99}",
        "{type: mask, keep: 99}",
        ["gateways[0].assignments[0].rules[0].action", "'keep' must be an integer"],
    ),
    (
        "unknown direction",
        "direction: response",
        "direction: sideways",
        "sideways",
        ["rules[0].direction", "unknown direction 'sideways'"],
    ),
    (
        "unknown condition",
        "conditions: {teams: [eng]}",
        "conditions: {groups: [eng]}",
        "groups",
        ["gateways[0].rules[0].conditions.groups", "unknown key 'groups'"],
    ),
    (
        "duplicate name",
        "  - name: flag-pii\n",
        "  - name: redact-secrets\n",
        "redact-secrets\n    detector: {type: pii",
        ["rules[1].name", "duplicate name 'redact-secrets'"],
    ),
    (
        "pattern RE2 cannot run",
        "detector: {type: secrets}",
        'detector: {type: regex, pattern: "(a)\\\\1"}',
        "{type: regex",
        ["rules[0].detector", "uses a backreference (\\1)"],
    ),
    (
        "lookahead in an argument matcher",
        'detector: {type: tool, match: "ev__delete_*"}',
        'detector: {type: tool, arguments: [{path: q, regex: "(?=x)"}]}',
        "{type: tool, arguments",
        ["gateways[0].rules[0].detector", "arguments[0].regex uses a lookahead"],
    ),
    (
        "missing detector",
        "    detector: {type: secrets}\n",
        "",
        "name: redact-secrets",
        ["rules[0]", "missing required key 'detector'"],
    ),
    (
        "detector without a type",
        "{type: secrets}",
        "{kinds: [github]}",
        "{kinds: [github]}",
        ["rules[0].detector", "missing required key 'type'"],
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new", "needle", "expected"), RULE_CASES, ids=[c[0] for c in RULE_CASES]
)
def test_it_refuses_bad_rules_naming_the_yaml_path(
    case, old, new, needle, expected, config_file, run
):
    assert old in RULES_YAML, case
    text = RULES_YAML.replace(old, new, 1)
    path = config_file(text)
    before = row_counts()

    with pytest.raises(CommandError) as excinfo:
        run("apply", path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}:{position_of(text, needle)}: "), message
    for words in expected:
        assert words in message, message
    assert row_counts() == before
    assert not Rule.objects.exists()


def test_a_pattern_python_would_backtrack_on_is_applied(config_file, run):
    text = RULES_YAML.replace(
        "detector: {type: secrets}", 'detector: {type: regex, pattern: "^(a+)+$"}', 1
    )
    run("apply", config_file(text))
    saved = Rule.objects.get(name="redact-secrets")
    assert (saved.detector, saved.detector_config["pattern"]) == ("regex", "^(a+)+$")


def test_the_documented_example_is_valid():
    text = (Path(settings.BASE_DIR) / "docs" / "config.md").read_text()
    example = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    plan = parse(example, source="docs/config.md")

    assert [r.name for r in plan.rules] == ["redact-secrets", "watch-pii"]
    assert plan.rules[1].fields["mode"] == "monitor"
    (gateway,) = plan.gateways
    assert [r.name for r in gateway.rules] == ["no-deletes"]
    assert [r.name for r in gateway.assignments[1].rules] == ["mask-cards"]
    assert gateway.assignments[1].rules[0].fields["action_config"] == {"keep": 4, "char": "*"}
