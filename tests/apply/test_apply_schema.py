"""The configuration schema on its own: parsing and validation need no database."""

import re

import pytest

from apply.schema import SCHEMA, parse
from gateways.errors import ConfigInvalid, Position
from tests.support.config_files import ACME_YAML


def test_it_builds_a_plan_with_defaults_and_positions():
    plan = parse(
        """\
workspace: {slug: acme, name: Acme}
teams: [{slug: eng, name: Engineering}]
users: [{email: " Alice@Example.COM "}]
servers: [{name: my-server, url: "https://mcp.example.com/mcp"}]
gateways:
  - slug: dev
    name: Dev
    assignments:
      - server: my-server
""",
        source="acme.yaml",
    )

    assert plan.workspace.slug == "acme"
    (user,) = plan.users
    assert (user.email, user.role, user.teams) == ("alice@example.com", "member", [])
    (server,) = plan.servers
    assert (server.kind, server.transport, server.args, server.env) == (
        "remote",
        "streamable_http",
        [],
        {},
    )
    (assignment,) = plan.gateways[0].assignments
    assert assignment.fields == {
        "namespace": "my_server",
        "prefix_mode": "always",
        "tool_mode": "all",
        "tool_allow": [],
        "tool_overrides": {},
        "prompts_enabled": True,
        "resources_enabled": True,
        "timeout_seconds": None,
        "max_call_seconds": None,
        "max_result_bytes": None,
        "position": 0,
        "identity_scheme": "none",
        "approval_tools": [],
        "approval_team": None,
        "approval_timeout_seconds": 120,
    }
    assert plan.position(assignment.path) == Position(9, 9)
    assert plan.position((*assignment.path, "server")) == Position(9, 17)
    # A key the file leaves out points at the nearest value the file has.
    assert plan.position((*assignment.path, "namespace")) == Position(9, 9)


def test_the_schema_lists_every_top_level_key():
    assert list(SCHEMA.keys) == [
        "workspace",
        "roles",
        "teams",
        "users",
        "scim",
        "trusted_idps",
        "servers",
        "gateways",
        "rules",
    ]


def test_problems_carry_path_and_position():
    with pytest.raises(ConfigInvalid) as excinfo:
        parse(ACME_YAML.replace("{server: time,", "{server: tiem,"), source="f.yaml")
    (problem,) = excinfo.value.problems
    assert problem.path == "gateways[0].assignments[0].server"
    assert problem.position == Position(16, 18)
    assert str(excinfo.value) == (
        "f.yaml:16:18: gateways[0].assignments[0].server: "
        "unknown server 'tiem' (not listed in 'servers')"
    )


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("timeout: 0", "must be greater than 0"),
        ("timeout: soon", "expected a number or null, got a string"),
        ("overrides: {echo: {title: x}}", "unknown key 'title' (allowed: name, description)"),
        ("namespace: 'no spaces'", "bad namespace 'no spaces'"),
        ("namespace: '', prefix: always", "prefix 'always' needs a namespace"),
    ],
)
def test_assignment_values_are_checked(snippet, message):
    text = ACME_YAML.replace("namespace: time,", f"{snippet},")
    with pytest.raises(ConfigInvalid, match=re.escape(message)):
        parse(text)


def test_a_managed_server_needs_a_command():
    with pytest.raises(ConfigInvalid, match=r"servers\[1\]: A managed server needs a command"):
        parse(ACME_YAML.replace("    command: npx\n", ""))
