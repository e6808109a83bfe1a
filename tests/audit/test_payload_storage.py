"""Payloads in the log: a call's result stored once for both response hops, and payloads over the
storage cap kept as their digest, size and edges; exports, the API and the chain agree."""

import asyncio
import hashlib
import io
import json

import pytest
from django.core.management import call_command

from audit.log import payloads
from audit.log.chain import verify_export, verify_workspace
from audit.log.policy import update_log_policy
from audit.log.recorder import write_entries
from audit.log.writer import flush
from audit.models import LogEntry
from tests.support.audit_entries import call_hops
from tests.support.live_gateway import connect

# The data plane keeps tokens and snapshots in the cache: no test may see another's.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

RESPONSES = ("upstream.response", "client.response")


def _echo(deployment, token, text):
    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            return await client.call_tool("notes__echo", {"text": text})

    return asyncio.run(scenario())


def _call_rows(workspace):
    assert flush(timeout=10)
    rows = LogEntry.objects.for_workspace(workspace).filter(tool="notes__echo").order_by("seq")
    return {row.hop: row for row in rows}


def _export(tmp_path) -> tuple[list[str], dict]:
    target = tmp_path / "acme.jsonl"
    call_command(
        "export_logs", workspace="acme", format="jsonl", output=str(target), stderr=io.StringIO()
    )
    lines = target.read_text().splitlines()
    rows = {row["hop"]: row for row in map(json.loads, lines) if row["tool"] == "notes__echo"}
    return lines, rows


def test_a_result_is_stored_once_for_both_response_hops(deployment, bob, tmp_path):
    token = deployment.token_for(bob)
    text = "stored once " * 200
    _echo(deployment, token, text)
    rows = _call_rows(deployment.acme)
    upstream, answer = rows["upstream.response"], rows["client.response"]
    # The database holds the result in one row; the answer refers to it.
    assert upstream.payload_state == "full" and text in json.dumps(upstream.payload)
    assert answer.payload_state == "shared"
    assert answer.payload == {"same_as": "upstream.response"}
    assert answer.response_bytes == upstream.response_bytes > len(text)
    assert answer.tokens_estimate == upstream.tokens_estimate
    assert verify_workspace(deployment.acme.pk).ok
    # The export shows the full payload on both hops, and still verifies offline.
    lines, exported = _export(tmp_path)
    assert exported["client.response"]["payload"] == exported["upstream.response"]["payload"]
    assert exported["client.response"]["payload"]["content"][0]["text"] == text
    assert exported["client.response"]["payload_stored"] == {"same_as": "upstream.response"}
    assert exported["upstream.response"]["payload_stored"] is None
    assert verify_export(lines).ok


@pytest.mark.urls("tests.audit.urls")
def test_the_log_api_and_pages_show_the_full_answer(api, as_, acme, carol):
    # A call as the data plane hands it over: the answer shares the upstream's result.
    hops = call_hops(acme)
    result = {"content": [{"type": "text", "text": "through the api"}], "isError": False}
    hops[2]["payload"], hops[3]["payload"] = result, {**result, "resultType": "complete"}
    payloads.share(hops[3], result, len(json.dumps(result, separators=(",", ":"))))
    assert hops[3]["payload"] == {"same_as": "upstream.response", "set": {"resultType": "complete"}}
    write_entries(hops)
    correlation = hops[0]["correlation_id"]
    full = {**result, "resultType": "complete"}
    logs = "/api/v1/workspaces/acme/logs"
    listed = api.as_(carol).get(f"{logs}/?hop=client.response").json()["results"]
    assert (listed[0]["payload_state"], listed[0]["payload"]) == ("shared", full)
    one = api.as_(carol).get(f"{logs}/{listed[0]['id']}/").json()
    assert one["payload"] == full
    call = api.as_(carol).get(f"{logs}/calls/{correlation}/").json()
    assert {h["hop"]: h["payload"] for h in call["hops"]}["client.response"] == full
    page = as_(carol).get(f"/w/acme/logs/calls/{correlation}/")
    assert page.status_code == 200 and b"resultType" in page.content
    listing = as_(carol).get("/w/acme/logs/?view=hops")
    shown = {e.hop: e.payload for e in listing.context["entries"]}
    assert shown["client.response"] == full
    grouped = as_(carol).get("/w/acme/logs/").context["calls"]
    [hops] = [row.hops for row in grouped if str(row.correlation_id) == str(correlation)]
    assert {e.hop: e.payload for e in hops}["client.response"] == full


def test_a_payload_over_the_cap_is_kept_as_digest_size_and_edges(
    deployment, bob, settings, tmp_path
):
    settings.AUDIT_MAX_PAYLOAD_BYTES = 10_000
    settings.AUDIT_PAYLOAD_EDGE_BYTES = 100
    token = deployment.token_for(bob)
    text = "x" * 30_000 + "the end"
    _echo(deployment, token, text)
    rows = _call_rows(deployment.acme)
    request, upstream, answer = (
        rows["client.request"],
        rows["upstream.response"],
        rows["client.response"],
    )
    marker = upstream.payload
    assert upstream.payload_state == "capped"
    assert marker["payload_truncated"] is True and marker["cap_bytes"] == 10_000
    assert marker["size_bytes"] == upstream.response_bytes > 30_000
    assert len(marker["sha256"]) == 64
    assert marker["head"].startswith('{"content":[{') and "x" * 50 in marker["head"]
    assert len(marker["head"]) == len(marker["tail"]) == 100
    assert "the end" in marker["tail"]
    # The request was as large: capped the same way, its full size kept.
    assert request.payload_state == "capped"
    assert request.payload["size_bytes"] == request.request_bytes > 30_000
    # The answer refers to the capped result rather than storing a second copy.
    assert answer.payload_state == "shared"
    assert all(len(json.dumps(row.payload)) < 1_000 for row in rows.values() if row.payload)
    lines, exported = _export(tmp_path)
    assert exported["client.response"]["payload"] == marker
    assert exported["upstream.response"]["payload"]["payload_truncated"] is True
    assert verify_export(lines).ok and verify_workspace(deployment.acme.pk).ok


def test_a_capped_digest_is_the_digest_of_the_whole_payload(settings):
    settings.AUDIT_MAX_PAYLOAD_BYTES = 50
    settings.AUDIT_PAYLOAD_EDGE_BYTES = 7
    payload = {"text": "é" * 40}
    entry = {"payload": payload}
    size = payloads.cap(entry, "response_bytes")
    whole = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert size == len(whole) == entry["response_bytes"]
    assert entry["payload"]["sha256"] == hashlib.sha256(whole).hexdigest()
    # Edges are cut at whole characters: the last 7 bytes start inside an "é".
    assert entry["payload"]["head"] == '{"text"'
    assert entry["payload"]["tail"] == 'éé"}'
    assert entry["payload_form"] == "capped"
    small = {"payload": {"text": "short"}}
    assert payloads.cap(small, "response_bytes") == 16 and small == {"payload": {"text": "short"}}


def test_a_reference_whose_upstream_row_is_gone_is_shown_as_stored(acme, settings):
    hops = call_hops(acme)
    result = {"content": [{"type": "text", "text": "purged"}]}
    hops[2]["payload"], hops[3]["payload"] = result, result
    payloads.share(hops[3], result, 50)
    write_entries(hops)
    LogEntry.objects.for_workspace(acme).filter(hop="upstream.response").delete()
    answer = LogEntry.objects.for_workspace(acme).get(hop="client.response")
    payloads.resolve_entries([answer])
    assert answer.payload == {"same_as": "upstream.response"}


def test_an_answer_shares_what_the_workspace_policy_kept_of_the_result(acme, alice):
    update_log_policy(workspace=acme, actor=alice, payload_mode="truncated", payload_max_kb=1)
    hops = call_hops(acme)
    result = {"content": [{"type": "text", "text": "y" * 3000}], "truncated": False}
    hops[2]["payload"], hops[3]["payload"] = result, {**result, "resultType": "complete"}
    payloads.share(hops[3], result, 3050)
    write_entries(hops)
    rows = {e.hop: e for e in LogEntry.objects.for_workspace(acme)}
    assert (rows["upstream.response"].payload_state, rows["client.response"].payload_state) == (
        "truncated",
        "shared",
    )
    payloads.resolve_entries(rows.values())
    assert rows["client.response"].payload == rows["upstream.response"].payload
    assert rows["client.response"].payload["truncated"] is True
