"""Workstation servers as code: `apply` creates them with their command or URL, scope and
env_keys, `export_config` writes them back, and applying the export again changes nothing."""

import pytest
from django.core.management.base import CommandError

from apply.plan import CREATED, UNCHANGED
from servers.models import Server
from teams.models import Workspace
from tests.apply.test_export import apply_text, assert_no_change, export

pytestmark = pytest.mark.django_db

WORKSTATION_YAML = """\
workspace: {slug: lab, name: Lab}
servers:
  - name: files
    kind: workstation
    command: npx
    args: ["-y", "@modelcontextprotocol/server-filesystem", "~/src"]
    env_keys: [GITHUB_TOKEN, ROOT]
  - {name: jira, kind: workstation, command: jira-mcp, scope: shared}
  - {name: lab, kind: workstation, url: "http://127.0.0.1:8080/mcp"}
"""


def test_workstation_servers_apply_export_and_apply_again_with_no_change():
    report = apply_text(WORKSTATION_YAML)
    assert report.count(CREATED) == 4  # the workspace and its three servers
    servers = {s.name: s for s in Server.objects.for_workspace(Workspace.objects.get(slug="lab"))}
    files, jira, lab = servers["files"], servers["jira"], servers["lab"]
    assert (files.transport, files.scope, files.env_keys) == (
        "stdio",
        "personal",
        ["GITHUB_TOKEN", "ROOT"],
    )
    assert (jira.scope, jira.env_keys) == ("shared", [])
    assert (lab.transport, lab.url, lab.command) == (
        "streamable_http",
        "http://127.0.0.1:8080/mcp",
        "",
    )

    text, _ = export("lab")
    assert "env_keys:\n    - GITHUB_TOKEN\n    - ROOT" in text or "env_keys: [GITHUB_TOKEN" in text
    assert "scope: shared" in text and "scope: personal" not in text
    assert "transport" not in text
    assert_no_change(apply_text(text))
    assert_no_change(apply_text(WORKSTATION_YAML))


def test_a_changed_scope_is_applied_as_a_change():
    apply_text(WORKSTATION_YAML)
    report = apply_text(WORKSTATION_YAML.replace("scope: shared", "scope: personal"))
    changed = [str(o) for o in report.outcomes if o.verb not in (UNCHANGED,)]
    assert changed == ["changed   server jira (scope)"]
    workspace = Workspace.objects.get(slug="lab")
    assert Server.objects.for_workspace(workspace).get(name="jira").scope == "personal"


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "env_keys: [GITHUB_TOKEN, ROOT]",
            "env: {GITHUB_TOKEN: ghp_x}",
            "servers[0].env: A workstation server takes no env values",
        ),
        ("env_keys: [GITHUB_TOKEN, ROOT]", "env_keys: [9LIVES]", "servers[0].env_keys: '9LIVES'"),
        ("scope: shared", "scope: everyone", "servers[1].scope: "),
        (
            "command: jira-mcp, scope",
            "command: jira-mcp, url: 'http://x.test/mcp', scope",
            "servers[1].url: A workstation server runs a command or relays to a URL, not both",
        ),
    ],
)
def test_bad_workstation_servers_are_refused_at_their_place(old, new, words, config_file, run):
    text = WORKSTATION_YAML.replace(old, new, 1)
    assert text != WORKSTATION_YAML
    with pytest.raises(CommandError) as excinfo:
        run("apply", config_file(text))
    assert words in str(excinfo.value)
    assert not Workspace.objects.filter(slug="lab").exists()


def test_other_kinds_refuse_workstation_keys(config_file, run):
    text = WORKSTATION_YAML + '  - {name: wiki, url: "https://wiki.test/mcp", scope: shared}\n'
    with pytest.raises(CommandError, match=r"servers\[3\]\.scope: Only workstation servers"):
        run("apply", config_file(text))
