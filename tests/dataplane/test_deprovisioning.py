"""Deprovisioning reaches every worker at once: a person calling through two worker processes
(on Redis) with a gateway token and an OAuth access token is refused on both within a second of
being suspended or removed, and their calls stay in the log, which exports and verifies."""

import io
import json
import time

import httpx
import pytest
from django.core.management import call_command

from audit.log.chain import verify_export, verify_workspace
from audit.models import LogEntry
from identities import offboarding
from teams.models import Membership
from tests.support.mcp_sessions import open_session, post
from tests.support.oauth_apps import oauth_app, oauth_sign_in

REFUSED = (401, 403)  # unauthenticated, or not provisioned: how the gateway refuses a caller
DEADLINE = 1.0  # seconds from the commit to a refusal on every worker


def _echo(http, url, headers, text) -> httpx.Response:
    return post(
        http, url, headers, 2, "tools/call", {"name": "notes__echo", "arguments": {"text": text}}
    )


def _bobs_calls() -> int:
    return LogEntry.objects.filter(user_email="bob@acme.test", hop="client.response").count()


def _wait_for_bobs_calls(count: int) -> None:
    """The workers' audit writers commit on their own schedule; wait for the entries."""
    deadline = time.monotonic() + 30
    while _bobs_calls() < count:
        assert time.monotonic() < deadline, f"{_bobs_calls()} of {count} calls logged"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["suspend", "remove"])
def test_a_deprovisioned_person_is_refused_on_every_worker_within_a_second(
    deployment, alice, bob, two_workers, shared_cache, how
):
    gateway_token = deployment.token_for(bob)
    oauth = oauth_sign_in(bob, oauth_app(alice), "http://127.0.0.1/mcp/acme/dev")
    with httpx.Client(timeout=30) as http:
        sessions = {
            (kind, url): open_session(http, deployment, url, secret, client="deprovisioning")
            for kind, secret in (("gateway", gateway_token), ("oauth", oauth["secret"]))
            for url in two_workers
        }
        # Every session calls on both workers, so each worker has the token lookups cached.
        for (kind, _), headers in sessions.items():
            for url in two_workers:
                reply = _echo(http, url, headers, f"{kind} before")
                assert reply.status_code == 200, reply.text
                assert reply.json()["result"]["content"][0]["text"] == f"{kind} before"
        before = len(sessions) * len(two_workers)
        _wait_for_bobs_calls(before)

        membership = Membership.objects.get(workspace=deployment.acme, user=bob)
        if how == "suspend":
            offboarding.suspend_member(membership=membership, actor=alice)
        else:
            offboarding.remove_member_and_revoke(
                membership=membership, actor=alice, acting_member=None
            )
        # From the commit: what the service itself takes is the machine's, not the workers'.
        started = time.monotonic()
        latency = {}
        for (kind, url), headers in sessions.items():
            while True:
                reply = _echo(http, url, headers, f"{kind} after")
                if reply.status_code in REFUSED:
                    latency[(kind, url)] = time.monotonic() - started
                    break
                assert reply.status_code == 200, reply.text
                assert time.monotonic() - started < DEADLINE, f"{kind} on {url} still served"
        print(f"\n{how}: refused after {max(latency.values()) * 1000:.1f} ms at most")
        assert max(latency.values()) < DEADLINE, latency

    # Their calls stay in the log, which still exports and verifies.
    _wait_for_bobs_calls(before)
    assert _bobs_calls() >= before
    out = io.StringIO()
    call_command("export_logs", workspace="acme", format="jsonl", stdout=out)
    lines = out.getvalue().splitlines()
    exported = [json.loads(line) for line in lines]
    bobs = [e for e in exported if e.get("user_email") == "bob@acme.test"]
    assert len([e for e in bobs if e.get("hop") == "client.response"]) >= before
    assert verify_export(lines).ok
    assert verify_workspace(deployment.acme.pk).ok
