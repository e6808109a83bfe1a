"""The audit log under load: every call through a live gateway is exported once, with four hops.

Tens of thousands of `tools/call` requests go through gateway processes on real sockets, at
concurrency 32; the servers are then stopped gracefully (their lifespan shutdown flushes the
audit log) and the workspace's log is exported with `manage.py export_logs`. Each call the
client saw succeed must be in the export exactly once: its four hops, in order, under one
correlation id, carrying the call's JSON-RPC id and argument; and the hash chain must verify.
"""

import asyncio
import io
import json
from collections import defaultdict

import pytest
import uvloop
from django.core.management import call_command

from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams.models import Membership
from tests.audit.load_run import Run, Worker, drive, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

CALLS = 20_000
CONCURRENCY = 32
HOPS = ["client.request", "upstream.request", "upstream.response", "client.response"]
TOOL = "a__echo"


class LoadGateway:
    """Gateway `acme/load` over the echo upstream, provisioned to team eng; bob calls it."""

    def __init__(self, acme, alice, bob, upstream_url, settings, var_dir):
        server = server_services.create_server(
            workspace=acme, name="echo", url=upstream_url, actor=alice
        )
        gateway = gateway_services.create_gateway(
            workspace=acme, slug="load", name="Load", actor=alice
        )
        gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
        gateway_services.assign_server(gateway=gateway, server=server, namespace="a", actor=alice)
        membership = Membership.objects.get(workspace=acme, user=bob)
        self.token = identity_services.issue_token(
            membership=membership, name="load", actor=bob
        ).secret
        self.env = worker_env(secret_key=settings.SECRET_KEY, var_dir=var_dir)

    def workers(self, count: int) -> list[Worker]:
        return [Worker(self.env, "/mcp/acme/load") for _ in range(count)]


@pytest.fixture
def load_gateway(acme, alice, bob, echo_upstream, settings, tmp_path):
    return LoadGateway(acme, alice, bob, echo_upstream, settings, tmp_path)


def exported_rows(tmp_path) -> list[dict]:
    """The workspace's log through the export command, checked offline as an auditor would."""
    target = tmp_path / "acme.jsonl"
    call_command(
        "export_logs", workspace="acme", format="jsonl", output=str(target), stderr=io.StringIO()
    )
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    return rows


def logged_calls(rows: list[dict]) -> dict[str, dict]:
    """Calls in the log by JSON-RPC id; every correlation id must hold the four hops once."""
    by_correlation = defaultdict(list)
    for row in rows:
        by_correlation[row["correlation_id"]].append(row)
    calls = {}
    for correlation, hops in by_correlation.items():
        hops.sort(key=lambda row: row["seq"])
        assert [row["hop"] for row in hops] == HOPS, (correlation, hops)
        rpc_ids = {row["rpc_id"] for row in hops}
        assert len(rpc_ids) == 1 and None not in rpc_ids, (correlation, rpc_ids)
        (rpc_id,) = rpc_ids
        assert rpc_id not in calls, f"JSON-RPC id {rpc_id} logged under two correlation ids"
        request, _, _, response = hops
        calls[rpc_id] = {
            "correlation_id": correlation,
            "argument": request["payload"]["arguments"]["text"],
            "result": response["payload"]["content"][0]["text"],
            "outcome": response["outcome"],
        }
    return calls


def assert_log_matches(run: Run, tmp_path) -> dict[str, dict]:
    """The export holds every call the client saw succeed, whole and once; the chain verifies."""
    rows = exported_rows(tmp_path)
    calls = logged_calls(rows)
    assert len(rows) == 4 * len(calls)
    succeeded = run.successes()
    missing = {str(rpc_id) for rpc_id in succeeded} - calls.keys()
    assert not missing, f"{len(missing)} successful calls missing, e.g. {sorted(missing)[:5]}"
    for rpc_id, made in succeeded.items():
        logged = calls[str(rpc_id)]
        assert logged["argument"] == logged["result"] == made.text
        assert logged["outcome"] == "ok"
    out = io.StringIO()
    call_command("verify_logs", workspace="acme", stdout=out)
    assert out.getvalue() == f"acme: OK: {len(rows)} entries verified (seq 1..{len(rows)}).\n"
    return calls


def test_every_call_of_a_load_run_is_exported_once_with_four_hops(load_gateway, tmp_path):
    (worker,) = load_gateway.workers(1)
    worker.start()
    try:
        run = uvloop.run(
            drive(
                [worker.url],
                token=load_gateway.token,
                tool=TOOL,
                calls=CALLS,
                concurrency=CONCURRENCY,
            )
        )
    finally:
        # A graceful stop commits every queued entry before the export reads them.
        worker.stop()
    print(f"\n{run}")
    assert run.succeeded == len(run.attempts) == CALLS
    calls = assert_log_matches(run, tmp_path)
    assert calls.keys() == {str(rpc_id) for rpc_id in run.attempts}
    assert len({call["correlation_id"] for call in calls.values()}) == CALLS


def test_a_worker_restarted_mid_run_loses_and_duplicates_nothing(load_gateway, tmp_path):
    # Two worker processes on two ports share the database (and Redis when the suite has it);
    # the client alternates between them and sends a call that got no reply to the other one.
    # A third of the way in, the first is stopped gracefully and started again.
    workers = load_gateway.workers(2)
    for worker in workers:
        worker.start()
    restarted = workers[0]
    run = Run()

    async def restart_midway():
        while run.succeeded < CALLS // 3:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(restarted.stop)
        await asyncio.to_thread(restarted.start)
        run.restarted = True

    async def scenario():
        load = drive(
            [worker.url for worker in workers],
            token=load_gateway.token,
            tool=TOOL,
            calls=CALLS,
            concurrency=CONCURRENCY,
            retry=True,
            run=run,
        )
        await asyncio.gather(load, restart_midway())

    try:
        uvloop.run(scenario())
    finally:
        for worker in workers:
            worker.stop()
    print(f"\n{run}")
    succeeded = run.successes()
    assert len(succeeded) == CALLS
    assert len({made.call for made in succeeded.values()}) == CALLS
    # Stopped twice, each time gracefully (`Worker.stop` checks how it exited).
    assert len(restarted.exit_codes) == 2
    # Calls in flight when the SIGTERM came were answered by the stopping worker...
    drained = [
        made
        for made in succeeded.values()
        if made.worker == 0 and not made.after_restart
        if made.answered_at > restarted.signalled_at[0]
    ]
    assert drained
    # ...and the worker served calls again once restarted.
    assert any(made.after_restart and made.worker == 0 for made in succeeded.values())
    calls = assert_log_matches(run, tmp_path)
    # An attempt the client saw fail is in the log only if a worker took it, and then whole.
    failed = calls.keys() - {str(rpc_id) for rpc_id in succeeded}
    refused = {str(i) for i, made in run.attempts.items() if made.failure == "ClientConnectorError"}
    assert failed <= {str(rpc_id) for rpc_id in run.attempts} - refused
    print(f"answered after SIGTERM: {len(drained)}; failed attempts in the log: {len(failed)}")
