"""Config as code in tests: a workspace's YAML (`ACME_YAML`), the rows it makes (`row_counts`),
and the fixtures `config_file` (write a YAML file) and `run` (call a management command),
registered for the whole suite in tests/conftest.py."""

from io import StringIO

import pytest
from django.core.management import call_command

from gateways.models import Assignment, Gateway
from servers.models import Server
from teams.models import ConfigChange, Membership, Role, Team, User, Workspace

ACME_YAML = """\
workspace: {slug: acme, name: Acme}
roles:   [{key: support, name: Support, capabilities: [logs.view]}]
users:   [{email: alice@example.com, role: owner, teams: [eng]}]
teams:   [{slug: eng, name: Engineering}]
servers:
  - {name: time, kind: remote, url: "http://127.0.0.1:9001/mcp"}
  - name: everything
    kind: managed
    command: npx
    args: ["-y", "@modelcontextprotocol/server-everything"]
gateways:
  - slug: dev
    name: Developer tools
    teams: [eng]
    assignments:
      - {server: time, namespace: time, tools: {mode: all}}
      - server: everything
        namespace: ev
        prefix: always
        tools: {mode: selected, allow: [echo, add]}
        prompts: true
        resources: false
        timeout: 30
        overrides: {echo: {name: say, description: "Echo back"}}
"""

COUNTED = (Workspace, User, Role, Team, Membership, Server, Gateway, Assignment, ConfigChange)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.fixture
def config_file(tmp_path):
    """`config_file(text)` writes a YAML file and returns its path."""

    def write(text: str, name: str = "acme.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def run():
    """`run(name, *args)` calls a management command and returns what it printed."""

    def call(name, *args, **options):
        out = StringIO()
        call_command(name, *[str(a) for a in args], stdout=out, **options)
        return out.getvalue()

    return call
