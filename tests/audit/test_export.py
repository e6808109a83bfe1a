"""Exports: CSV and JSON Lines, streamed, filtered, verifiable offline, and themselves logged."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse

from audit.log.chain import verify_export
from teams.capabilities import LOGS_EXPORT, LOGS_VIEW
from teams.models import ConfigChange
from tests.support.api import error, refused_capability

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.audit.urls")]
W = "/api/v1/workspaces/acme/logs"


def export(**options):
    out = io.StringIO()
    call_command("export_logs", workspace="acme", stdout=out, **options)
    return out.getvalue()


def test_the_command_exports_json_lines_an_auditor_can_verify(acme, alice, write_calls, tmp_path):
    write_calls(acme, 3, user=alice)
    target = tmp_path / "acme.jsonl"
    export(format="jsonl", output=str(target))
    with target.open() as lines:
        verdict = verify_export(lines)
    assert verdict.ok, str(verdict)
    assert (verdict.count, verdict.first_seq, verdict.last_seq) == (12, 1, 12)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0]["payload"] == {"name": "time__now", "arguments": {"zone": "UTC"}}
    assert {"seq", "prev_digest", "digest", "payload_sha256"} <= rows[0].keys()
    assert rows[1]["prev_digest"] == rows[0]["digest"]


def test_the_command_exports_csv_that_verifies_too(acme, write_calls):
    # Values a spreadsheet would run as formulas are escaped, and the escape is undone to verify.
    write_calls(acme, 2, tool="=cmd|calc", error_message="-1+1", error_code=-32602)
    text = export(format="csv")
    lines = text.splitlines(keepends=True)
    assert lines[0].startswith("id,workspace_id,seq,at,hop,")
    assert ",'=cmd|calc," in text
    assert ",-32602," in text
    verdict = verify_export(lines)
    assert verdict.ok, str(verdict)
    assert verdict.count == 8


def test_an_export_without_payloads_still_verifies(acme, write_calls):
    write_calls(acme, 2)
    text = export(format="jsonl", no_payloads=True)
    assert '"payload"' not in text
    assert verify_export(text.splitlines()).ok


def test_offline_verification_finds_an_edited_row(acme, write_calls):
    write_calls(acme, 2)
    lines = export(format="jsonl").splitlines()
    row = json.loads(lines[4])
    row["payload"] = {"name": "time__now", "arguments": {"zone": "Mars"}}
    lines[4] = json.dumps(row)
    verdict = verify_export(lines)
    assert (verdict.ok, verdict.broken_seq) == (False, 5)
    assert "payload" in verdict.problem
    row["payload_sha256"] = "0" * 64
    lines[4] = json.dumps({k: v for k, v in row.items() if k != "payload"})
    assert verify_export(lines).broken_seq == 5
    del lines[4]
    assert "seq 5..5 are missing" in verify_export(lines).problem


def test_filters_select_entries_and_a_filtered_export_verifies_row_by_row(acme, write_calls):
    write_calls(acme, 2, gateway="dev")
    write_calls(acme, 1, gateway="ops")
    write_calls(acme, 1, gateway="dev")
    lines = export(format="jsonl", gateway="ops").splitlines()
    assert [json.loads(line)["gateway_slug"] for line in lines] == ["ops"] * 4
    dev = export(format="jsonl", gateway="dev").splitlines()
    assert len(dev) == 12
    assert verify_export(dev, contiguous=False).ok
    assert verify_export(dev, contiguous=False).gaps == 1
    assert not verify_export(dev).ok


def test_time_filters(acme, write_calls):
    write_calls(acme, 1, at=1_700_000_000.0)  # 2023-11-14
    write_calls(acme, 1, at=1_800_000_000.0)  # 2027-01-15
    assert len(export(format="jsonl", since="2024-01-01").splitlines()) == 4
    assert len(export(format="jsonl", until="2024-01-01T00:00:00Z").splitlines()) == 4
    assert export(format="jsonl", since="2030-01-01") == ""


def test_bad_options_are_command_errors(acme):
    with pytest.raises(CommandError, match="--since: 'yesterday' is not an ISO 8601"):
        export(format="jsonl", since="yesterday")
    with pytest.raises(CommandError, match="No workspace 'nope'"):
        call_command("export_logs", workspace="nope", format="csv")


def test_the_command_export_is_logged(acme, write_calls):
    write_calls(acme, 1)
    export(format="csv", gateway="dev")
    change = ConfigChange.objects.for_workspace(acme).get(action="logs.export")
    assert change.actor is None
    assert change.detail == {
        "format": "csv",
        "filters": {"gateway": "dev"},
        "payloads": True,
        "via": "command",
    }


# -- the API -----------------------------------------------------------------------------------


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_an_auditor_exports_with_payloads_and_the_export_is_logged(api, acme, carol, write_calls):
    write_calls(acme, 2)
    response = api.as_(carol).get(f"{W}/export/?format=jsonl&gateway=dev")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    assert response["Content-Disposition"] == 'attachment; filename="acme-logs.jsonl"'
    lines = _body(response).splitlines()
    assert len(lines) == 8
    assert "payload" in json.loads(lines[0])
    assert verify_export(lines).ok
    change = ConfigChange.objects.for_workspace(acme).get(action="logs.export")
    assert (change.actor, change.detail["via"], change.detail["payloads"]) == (carol, "api", True)


def test_payloads_need_the_view_payloads_capability(api_as_dave_with, acme, write_calls):
    write_calls(acme, 1)
    response = api_as_dave_with({LOGS_EXPORT}).get(f"{W}/export/?format=csv")
    assert response.status_code == 200
    text = _body(response)
    assert "payload_sha256" in text.splitlines()[0]
    assert ",payload," not in text.splitlines()[0]
    assert "UTC" not in text
    assert verify_export(text.splitlines(keepends=True)).ok


def test_export_needs_the_export_capability(api, api_as_dave_with, acme, bob, write_calls):
    write_calls(acme, 1)
    assert api.as_(bob).get(f"{W}/export/?format=csv").status_code == 403
    response = api_as_dave_with({LOGS_VIEW}).get(f"{W}/export/?format=csv")
    assert response.status_code == 403
    assert refused_capability(response) == "logs.export"
    assert not ConfigChange.objects.filter(action="logs.export").exists()


def test_export_hides_other_workspaces(api, acme, globex, mallory, write_calls):
    write_calls(acme, 1)
    assert api.as_(mallory).get(f"{W}/export/?format=csv").status_code == 404
    response = api.as_(mallory).get("/api/v1/workspaces/globex/logs/export/?format=jsonl")
    assert _body(response) == ""


def test_bad_export_requests_are_400(api, acme, carol):
    response = api.as_(carol).get(f"{W}/export/?format=xml")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "Unknown export format 'xml'; use csv or jsonl.",
        "attr": "format",
    }
    response = api.as_(carol).get(f"{W}/export/?format=csv&until=soon")
    assert (response.status_code, error(response)["attr"]) == (400, "until")
