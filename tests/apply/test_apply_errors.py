"""`manage.py apply` refuses bad input with FILE:LINE:COL and the key, and changes nothing."""

import pytest
from django.core.management.base import CommandError

from teams.models import Membership, Team
from tests.support.config_files import ACME_YAML, row_counts

pytestmark = pytest.mark.django_db


def position_of(text: str, needle: str, occurrence: int = 1) -> str:
    """The 1-based line:column of the `occurrence`-th `needle` in `text`, as an editor shows it."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{line}:{column}"


# (case, text after replacing `old` with `new` in ACME_YAML, needle whose position is reported,
#  the path and words the message must contain)
CASES = [
    (
        "unknown key",
        "namespace: ev",
        "namespce: ev",
        "namespce",
        ["gateways[0].assignments[1].namespce", "unknown key 'namespce'"],
    ),
    (
        "unknown server",
        "{server: time,",
        "{server: tiem,",
        "tiem",
        ["gateways[0].assignments[0].server", "unknown server 'tiem'"],
    ),
    (
        "unknown team",
        "    teams: [eng]",
        "    teams: [eng, ops]",
        "ops",
        ["gateways[0].teams[1]", "unknown team 'ops'"],
    ),
    (
        "duplicate namespace",
        "namespace: ev",
        "namespace: time",
        "time\n        prefix",
        ["gateways[0].assignments[1].namespace", "duplicate namespace 'time'"],
    ),
    (
        "bad URL",
        '"http://127.0.0.1:9001/mcp"',
        '"ftp://127.0.0.1/mcp"',
        '"ftp',
        ["servers[0].url", "bad URL 'ftp://127.0.0.1/mcp'"],
    ),
    (
        "bad slug",
        "{slug: eng, name: Engineering}",
        "{slug: Eng Team, name: Engineering}",
        "Eng Team",
        ["teams[0].slug", "bad slug 'Eng Team'"],
    ),
    (
        "bad kind",
        "kind: managed",
        "kind: cloud",
        "cloud",
        ["servers[1].kind", "unknown kind 'cloud'", "remote, managed, workstation"],
    ),
    (
        "missing required key",
        "    name: Developer tools\n",
        "",
        "slug: dev",
        ["gateways[0]", "missing required key 'name'"],
    ),
    (
        "wrong type",
        "prompts: true",
        "prompts: sometimes",
        "sometimes",
        ["gateways[0].assignments[1].prompts", "expected true or false, got a string"],
    ),
    (
        "unknown role",
        "role: owner",
        "role: superhero",
        "superhero",
        ["users[0].role", "unknown role 'superhero'"],
    ),
    (
        "unknown capability",
        "capabilities: [logs.view]",
        "capabilities: [logs.view, logs.fly]",
        "logs.fly",
        ["roles[0].capabilities[1]", "unknown capability 'logs.fly'"],
    ),
    (
        "bad tool mode",
        "{mode: all}",
        "{mode: some}",
        "some",
        ["gateways[0].assignments[0].tools.mode", "unknown tool mode 'some'"],
    ),
    (
        "bad prefix",
        "prefix: always",
        "prefix: sometimes",
        "sometimes",
        ["gateways[0].assignments[1].prefix", "unknown prefix mode 'sometimes'"],
    ),
    (
        "allow-list without selected mode",
        "{mode: selected, allow: [echo, add]}",
        "{mode: all, allow: [echo, add]}",
        "[echo",
        ["gateways[0].assignments[1].tools.allow", "only applies to tools mode 'selected'"],
    ),
    (
        "remote server without a URL",
        '{name: time, kind: remote, url: "http://127.0.0.1:9001/mcp"}',
        "{name: time, kind: remote}",
        "{name: time",
        ["servers[0]", "A remote server needs a URL."],
    ),
    (
        "duplicate team",
        "teams:   [{slug: eng, name: Engineering}]",
        "teams:   [{slug: eng, name: Engineering}, {slug: eng, name: Again}]",
        "eng, name: Again",
        ["teams[1].slug", "duplicate slug 'eng' (first at 4:18)"],
    ),
    (
        "custom role with a built-in key",
        "{key: support,",
        "{key: admin,",
        "admin",
        ["roles[0].key", "'admin' is a built-in role key"],
    ),
    (
        "server environment naming an unset variable",
        '"@modelcontextprotocol/server-everything"]',
        '"@modelcontextprotocol/server-everything"]\n    env: {TOKEN: "${UNSET_IN_TESTS}"}',
        '"${UNSET',
        ["servers[1].env.TOKEN", "environment variable UNSET_IN_TESTS is not set"],
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new", "needle", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_it_refuses_bad_input(case, old, new, needle, expected, config_file, run):
    assert old in ACME_YAML, case
    text = ACME_YAML.replace(old, new, 1)
    path = config_file(text)
    before = row_counts()

    with pytest.raises(CommandError) as excinfo:
        run("apply", path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}:{position_of(text, needle)}: "), message
    for words in expected:
        assert words in message
    assert row_counts() == before


def test_it_reports_every_problem_at_once(config_file, run):
    text = ACME_YAML.replace("kind: managed", "kind: cloud").replace("name: Eng", "nme: Eng")
    with pytest.raises(CommandError) as excinfo:
        run("apply", config_file(text))
    lines = str(excinfo.value).splitlines()
    assert len(lines) == 3
    assert "teams[0]: missing required key 'name'" in lines[0]
    assert "teams[0].nme: unknown key 'nme'" in lines[1]
    assert "servers[1].kind: unknown kind 'cloud'" in lines[2]


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("", "1:1", "empty file"),
        ("- just\n- a list\n", "1:1", "expected a mapping, got a list"),
        ("workspace: {slug: acme\n", "2:1", "not valid YAML"),
        ("teams: []\n", "1:1", "missing required key 'workspace'"),
        ("workspace: {slug: a, name: A}\nworkspace: {slug: b, name: B}\n", "2:1", "duplicate key"),
    ],
)
def test_it_refuses_malformed_documents(text, position, words, config_file, run):
    path = config_file(text)
    with pytest.raises(CommandError, match=f"{path}:{position}: .*{words}"):
        run("apply", path)


def test_a_missing_file_is_a_command_error(tmp_path, run):
    with pytest.raises(CommandError, match="cannot read"):
        run("apply", tmp_path / "nope.yaml")


def test_a_refusal_while_applying_rolls_everything_back(acme, alice, config_file, run):
    # Valid on paper, refused by the services: alice is the last owner of acme.
    text = """\
workspace: {slug: acme, name: Renamed}
teams: [{slug: eng, name: Renamed team}, {slug: new, name: New}]
users: [{email: alice@acme.test, role: member}]
"""
    path = config_file(text)
    before = row_counts()

    with pytest.raises(CommandError) as excinfo:
        run("apply", path)

    assert str(excinfo.value).startswith(f"{path}:{position_of(text, 'member')}: users[0].role: ")
    assert "last owner" in str(excinfo.value)
    assert row_counts() == before
    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert Team.objects.for_workspace(acme).get(slug="eng").name == "Engineering"
    assert Membership.objects.for_workspace(acme).get(user=alice).role.key == "owner"


def test_a_namespace_held_by_an_unlisted_assignment_is_reported(
    acme, acme_gateway, config_file, run
):
    # The fixture's gateway serves `time` as namespace "time"; the file gives it to another server.
    text = """\
workspace: {slug: acme, name: Acme}
teams: [{slug: eng, name: Engineering}]
servers:
  - {name: clock, url: "http://127.0.0.1:9003/mcp"}
gateways:
  - slug: dev
    name: Developer tools
    teams: [eng]
    assignments:
      - {server: clock, namespace: time}
"""
    path = config_file(text)
    with pytest.raises(CommandError) as excinfo:
        run("apply", path)
    message = str(excinfo.value)
    assert f"{path}:{position_of(text, 'time}')}: gateways[0].assignments[0].namespace:" in message
    assert "already used" in message

    out = run("apply", path, "--prune")
    assert "deleted   assignment dev/time" in out
    assert "created   assignment dev/time" in out
