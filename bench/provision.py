"""Set up a fresh platform for the benchmark and print how to call it, as one JSON line.

Run with `GATEHOUSE_VAR_DIR` pointing at an empty directory (and `DATABASE_URL`, when set, naming
an empty database): it migrates a new database, then creates everything through the services, as
an administrator would: a workspace, an owner, a member in a team, a remote server for the
benchmark upstream, a gateway provisioned to the team with two assignments of that server
(namespaces `a` and `b`), the default rule set, and an API token for the member. The member
reaches the gateway through the team, the ordinary path.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from gateways import services as gateway_services  # noqa: E402
from identities import services as identity_services  # noqa: E402
from rules import services as rule_services  # noqa: E402
from servers import services as server_services  # noqa: E402
from teams import services as team_services  # noqa: E402
from teams.models import Membership, User  # noqa: E402


def workspace_with_member(slug: str, name: str):
    """Migrate the new database, then a workspace `slug` with its owner and a member in team
    `eng`: (workspace, owner, member)."""
    call_command("migrate", interactive=False, verbosity=0)
    owner = User.objects.create_user(email=f"owner@{slug}.test", password=None)
    member = User.objects.create_user(email=f"member@{slug}.test", password=None)
    workspace = team_services.create_workspace(slug=slug, name=name, owner=owner)
    team_services.create_team(workspace=workspace, slug="eng", name="Engineering", actor=owner)
    team_services.add_member(
        workspace=workspace,
        user=member,
        role_key="member",
        team_slugs=["eng"],
        actor=owner,
        acting_member=None,
    )
    return workspace, owner, member


def main(upstream_url: str) -> dict:
    workspace, owner, member = workspace_with_member("bench", "Bench")
    server = server_services.create_server(
        workspace=workspace, name="echo", url=upstream_url, actor=owner
    )
    gateway = gateway_services.create_gateway(
        workspace=workspace, slug="tools", name="Bench tools", actor=owner
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=owner)
    for namespace in ("a", "b"):
        gateway_services.assign_server(
            gateway=gateway, server=server, namespace=namespace, actor=owner
        )
    # Governance as shipped: the default rule set (secrets redacted, PII and injection flagged).
    rule_services.install_default_rules(workspace=workspace, actor=owner)
    membership = Membership.objects.get(workspace=workspace, user=member)
    issued = identity_services.issue_token(membership=membership, name="bench", actor=member)
    return {"path": "/mcp/bench/tools", "token": issued.secret}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: provision.py UPSTREAM_URL")
    print(json.dumps(main(sys.argv[1])))
