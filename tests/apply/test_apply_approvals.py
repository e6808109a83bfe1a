"""An assignment's approval settings in a configuration file: applied, compared, exported."""

import pytest
from django.core.management.base import CommandError

from gateways.models import Assignment
from tests.support.config_files import ACME_YAML

pytestmark = pytest.mark.django_db

WITH_APPROVAL = ACME_YAML.replace(
    "      - {server: time, namespace: time, tools: {mode: all}}\n",
    "      - server: time\n"
    "        namespace: time\n"
    "        approval: {tools: [reset_clock], team: eng, timeout: 30}\n",
)


def test_it_applies_the_approval_settings_and_then_changes_nothing(config_file, run):
    run("apply", config_file(WITH_APPROVAL))
    assignment = Assignment.objects.get(namespace="time")
    assert assignment.approval_tools == ["reset_clock"]
    assert assignment.approval_team.slug == "eng"
    assert assignment.approval_timeout_seconds == 30
    again = run("apply", config_file(WITH_APPROVAL))
    assert "unchanged assignment dev/time" in again
    # Left out, the settings go back to their defaults: no tool needs approval.
    out = run("apply", config_file(ACME_YAML))
    assert "changed   assignment dev/time" in out and "approval_team" in out
    assignment.refresh_from_db()
    assert assignment.approval_tools == [] and assignment.approval_team is None


def test_an_unknown_approver_team_is_refused(config_file, run):
    bad = WITH_APPROVAL.replace("team: eng, timeout: 30", "team: ops, timeout: 30")
    with pytest.raises(CommandError, match="approval.team"):
        run("apply", config_file(bad))
    assert not Assignment.objects.exists()


def test_the_export_writes_the_approval_settings_back(config_file, run, tmp_path):
    run("apply", config_file(WITH_APPROVAL))
    exported = run("export_config", "--workspace", "acme")
    assert "approval:" in exported and "reset_clock" in exported
    out = run("apply", config_file(exported, "exported.yaml"))
    assert "unchanged assignment dev/time" in out
