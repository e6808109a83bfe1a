"""`manage.py apply`: a workspace made to match a file, idempotently, through the services."""

import pytest

from gateways.models import Assignment, Gateway
from servers.models import Server
from teams.models import ConfigChange, Membership, Role, Team, User, Workspace
from tests.support.config_files import ACME_YAML, row_counts

pytestmark = pytest.mark.django_db


def test_it_creates_everything(config_file, run):
    out = run("apply", config_file(ACME_YAML))

    assert out.splitlines()[-1] == "9 created, 0 changed, 0 unchanged, 0 deleted"
    assert "created   gateway dev" in out
    acme = Workspace.objects.get(slug="acme")
    assert acme.name == "Acme"
    support = Role.objects.for_workspace(acme).get(key="support")
    assert support.capabilities == ["logs.view"] and not support.builtin
    alice = Membership.objects.for_workspace(acme).get(user__email="alice@example.com")
    assert alice.role.key == "owner"
    assert [t.slug for t in alice.teams.all()] == ["eng"]
    assert not alice.user.has_usable_password()
    time, everything = Server.objects.for_workspace(acme).order_by("name").reverse()
    assert (time.kind, time.url, time.transport) == (
        "remote",
        "http://127.0.0.1:9001/mcp",
        "streamable_http",
    )
    assert (everything.kind, everything.command, everything.transport) == (
        "managed",
        "npx",
        "stdio",
    )
    assert everything.args == ["-y", "@modelcontextprotocol/server-everything"]
    dev = Gateway.objects.for_workspace(acme).get(slug="dev")
    assert [t.slug for t in dev.teams.all()] == ["eng"]
    first, second = Assignment.objects.for_workspace(acme).filter(gateway=dev)
    assert (first.server, first.namespace, first.tool_mode) == (time, "time", "all")
    assert second.server == everything
    assert (second.namespace, second.prefix_mode, second.tool_mode) == ("ev", "always", "selected")
    assert second.tool_allow == ["echo", "add"]
    assert second.tool_overrides == {"echo": {"name": "say", "description": "Echo back"}}
    assert (second.prompts_enabled, second.resources_enabled) == (True, False)
    assert second.timeout_seconds == 30.0
    assert (first.position, second.position) == (0, 1)


def test_it_writes_the_admin_audit_log_without_an_actor(config_file, run):
    run("apply", config_file(ACME_YAML))

    acme = Workspace.objects.get(slug="acme")
    actions = set(ConfigChange.objects.for_workspace(acme).values_list("action", flat=True))
    assert {"workspace.create", "team.create", "server.create", "gateway.create"} <= actions
    assert {"assignment.create", "member.add", "role.create"} <= actions
    assert not ConfigChange.objects.for_workspace(acme).filter(actor__isnull=False).exists()


def test_a_second_apply_changes_nothing(config_file, run):
    path = config_file(ACME_YAML)
    run("apply", path)
    versions = dict(Gateway.objects.values_list("slug", "config_version"))
    before = row_counts()

    out = run("apply", path)

    assert out.splitlines()[-1] == "0 created, 0 changed, 9 unchanged, 0 deleted"
    assert dict(Gateway.objects.values_list("slug", "config_version")) == versions
    assert row_counts() == before


def test_it_updates_only_what_differs(config_file, run):
    run("apply", config_file(ACME_YAML))
    dev = Gateway.objects.get(slug="dev")
    version = dev.config_version
    changed = ACME_YAML.replace("name: Developer tools", "name: Dev tools").replace(
        "{mode: selected, allow: [echo, add]}", "{mode: read_only}"
    )

    out = run("apply", config_file(changed))

    assert "changed   gateway dev (name)" in out
    assert "changed   assignment dev/ev (tool_allow, tool_mode)" in out
    assert out.splitlines()[-1] == "0 created, 2 changed, 7 unchanged, 0 deleted"
    dev.refresh_from_db()
    assert dev.name == "Dev tools"
    assert dev.config_version > version
    ev = Assignment.objects.get(gateway=dev, namespace="ev")
    assert (ev.tool_mode, ev.tool_allow) == ("read_only", [])


def test_a_dry_run_changes_nothing(config_file, run):
    before = row_counts()

    out = run("apply", config_file(ACME_YAML), "--dry-run")

    assert "9 created, 0 changed, 0 unchanged, 0 deleted (dry run: nothing was saved)" in out
    assert row_counts() == before
    assert not Workspace.objects.filter(slug="acme").exists()


def test_prune_deletes_what_the_file_no_longer_lists(acme, acme_gateway, run, config_file):
    # The `acme` fixture has alice (owner), bob (eng), carol (auditor) and gateway dev <- time.
    kept = """\
workspace: {slug: acme, name: Acme}
users: [{email: alice@acme.test, role: owner}]
teams: [{slug: eng, name: Engineering}]
servers: [{name: time, url: "http://127.0.0.1:9001/mcp"}]
gateways: [{slug: dev, name: Developer tools, teams: [eng]}]
"""
    run("apply", config_file(ACME_YAML.replace("alice@example.com", "alice@acme.test")))
    assert Server.objects.for_workspace(acme).count() == 2

    without_prune = run("apply", config_file(kept))
    assert "deleted" not in without_prune.replace("0 deleted", "")
    assert Server.objects.for_workspace(acme).count() == 2

    out = run("apply", config_file(kept), "--prune")

    assert "deleted   assignment dev/time" in out
    assert "deleted   assignment dev/ev" in out
    assert "deleted   server everything" in out
    assert "deleted   member bob@acme.test" in out
    assert "deleted   member carol@acme.test" in out
    assert "deleted   role support" in out
    assert [s.name for s in Server.objects.for_workspace(acme)] == ["time"]
    assert not Assignment.objects.for_workspace(acme).exists()
    assert [m.user.email for m in Membership.objects.for_workspace(acme)] == ["alice@acme.test"]
    assert set(Role.objects.for_workspace(acme).values_list("key", flat=True)) == {
        "owner",
        "admin",
        "member",
        "auditor",
    }
    assert User.objects.filter(email="bob@acme.test").exists(), "accounts are not deleted"


def test_prune_keeps_the_last_owner_and_other_workspaces(acme, globex, run, config_file):
    out = run("apply", config_file("workspace: {slug: acme, name: Acme}\n"), "--prune")

    assert "unchanged member alice@acme.test (kept: The last owner" in out
    assert "deleted   team eng" in out
    assert list(Membership.objects.for_workspace(acme).values_list("user__email", flat=True)) == [
        "alice@acme.test"
    ]
    assert not Team.objects.for_workspace(acme).exists()
    assert Team.objects.for_workspace(globex).filter(slug="ops").exists()
    assert Membership.objects.for_workspace(globex).count() == 1


def test_it_adds_existing_people_to_an_existing_workspace(acme, bob, run, config_file):
    text = """\
workspace: {slug: acme, name: Acme Corp}
teams: [{slug: eng, name: Engineering}, {slug: ops, name: Operations}]
users:
  - {email: Bob@Acme.test, role: admin, teams: [eng, ops]}
  - {email: dave@acme.test}
"""
    out = run("apply", config_file(text))

    assert "changed   workspace acme (name)" in out
    assert "changed   member bob@acme.test (role, teams)" in out
    assert "created   member dave@acme.test" in out
    membership = Membership.objects.for_workspace(acme).get(user=bob)
    assert membership.role.key == "admin"
    assert sorted(t.slug for t in membership.teams.all()) == ["eng", "ops"]
    dave = Membership.objects.for_workspace(acme).get(user__email="dave@acme.test")
    assert dave.role.key == "member"


def test_a_server_takes_its_reply_bound_from_the_file(config_file, run):
    run("apply", config_file(ACME_YAML))
    bounded = ACME_YAML.replace(
        'url: "http://127.0.0.1:9001/mcp"}',
        'url: "http://127.0.0.1:9001/mcp", max_reply_bytes: 65536}',
    )

    out = run("apply", config_file(bounded))

    assert "changed   server time (max_reply_bytes)" in out
    assert Server.objects.get(name="time").max_reply_bytes == 65536
