"""The soak benchmark's side of the platform's database, run as a child process.

    soak_platform.py provision SLUG NAME=URL [NAME=URL...]
    soak_platform.py audit SLUG
    soak_platform.py tally SLUG

`provision` migrates the database the environment names (a fresh SQLite file, or PostgreSQL)
and creates, through the services as an administrator would: workspace SLUG with an owner and a
member in team `eng`, one remote server per NAME=URL, a gateway `soak` provisioned to the team
with each server assigned under its NAME as namespace, the default rule set, and an API token
for the member. It prints the gateway's path and the token as one JSON line. The slug is new
on every run, so runs can share one PostgreSQL database.

`audit` prints, as one JSON line, the JSON-RPC ids of the workspace's `client.request` and
`client.response` entries: what the soak compares with the calls it saw answered.

`tally` prints, as one JSON line, the workspace's `tools/call` entries: how many in all, per
hop, and how many calls were answered with a result (`client.response` with outcome ok): what
`make bench` compares with the calls it saw succeed.
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

from django.db.models import Count  # noqa: E402
from provision import workspace_with_member  # noqa: E402

from audit.models import Hop, LogEntry, Outcome  # noqa: E402
from gateways import services as gateway_services  # noqa: E402
from identities import services as identity_services  # noqa: E402
from rules import services as rule_services  # noqa: E402
from servers import services as server_services  # noqa: E402
from teams.models import Membership, Workspace  # noqa: E402


def provision(slug: str, upstreams: dict[str, str]) -> dict:
    workspace, owner, member = workspace_with_member(slug, "Soak")
    gateway = gateway_services.create_gateway(
        workspace=workspace, slug="soak", name="Soak", actor=owner
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=owner)
    for name, url in upstreams.items():
        server = server_services.create_server(workspace=workspace, name=name, url=url, actor=owner)
        gateway_services.assign_server(gateway=gateway, server=server, namespace=name, actor=owner)
    rule_services.install_default_rules(workspace=workspace, actor=owner)
    membership = Membership.objects.get(workspace=workspace, user=member)
    issued = identity_services.issue_token(membership=membership, name="soak", actor=member)
    return {"path": f"/mcp/{slug}/soak", "token": issued.secret}


def audited(slug: str) -> dict:
    workspace = Workspace.objects.get(slug=slug)
    ids = {}
    for hop in (Hop.CLIENT_REQUEST, Hop.CLIENT_RESPONSE):
        rows = LogEntry.objects.filter(workspace=workspace, hop=hop, rpc_method="tools/call")
        ids[hop.value] = list(rows.values_list("rpc_id", flat=True).iterator())
    return ids


def tally(slug: str) -> dict:
    workspace = Workspace.objects.get(slug=slug)
    calls = LogEntry.objects.for_workspace(workspace).filter(rpc_method="tools/call")
    hops = dict(calls.values_list("hop").annotate(n=Count("id")).order_by())
    answered = calls.filter(hop=Hop.CLIENT_RESPONSE, outcome=Outcome.OK).count()
    return {"entries": sum(hops.values()), "by_hop": hops, "answered_ok": answered}


if __name__ == "__main__":
    command, slug, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if command == "provision":
        print(json.dumps(provision(slug, dict(pair.split("=", 1) for pair in rest))))
    elif command == "audit":
        print(json.dumps(audited(slug)))
    elif command == "tally":
        print(json.dumps(tally(slug)))
    else:
        sys.exit(__doc__)
