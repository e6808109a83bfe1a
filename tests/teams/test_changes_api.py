"""The admin audit log, its export, and the workspace report."""

import json

from identities.models import ApiToken
from teams.models import ConfigChange
from tests.support.api import error

W = "/api/v1/workspaces/acme"


def test_the_log_lists_changes_newest_first(api, acme, carol, acme_gateway):
    rows = api.as_(carol).get(f"{W}/changes/").json()
    assert rows["count"] == ConfigChange.objects.for_workspace(acme).count()
    first = rows["results"][0]
    assert (first["action"], first["actor"], first["target"]) == (
        "assignment.create",
        "alice@acme.test",
        "acme/dev <- time as time",
    )
    assert first["detail"] == {"server": "time", "namespace": "time"}
    times = [r["created_at"] for r in rows["results"]]
    assert times == sorted(times, reverse=True)


def test_api_writes_are_in_the_log(api, acme, alice, carol):
    api.as_(alice).post(f"{W}/teams/", {"slug": "ops", "name": "Ops"}, format="json")
    newest = api.as_(carol).get(f"{W}/changes/?limit=1").json()["results"][0]
    assert (newest["action"], newest["actor"]) == ("team.create", "alice@acme.test")


def test_the_log_exports_as_csv_and_json_lines(api, acme, carol, acme_gateway):
    client = api.as_(carol)
    response = client.get(f"{W}/changes/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="acme-changes.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "id,created_at,actor,action,target_type,target,detail"
    assert len(lines) == 1 + ConfigChange.objects.for_workspace(acme).count()

    response = client.get(f"{W}/changes/export/?format=jsonl")
    assert response["Content-Type"] == "application/jsonl"
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert rows[0]["action"] == "assignment.create"
    assert rows[0]["detail"] == {"namespace": "time", "server": "time"}
    assert len(rows) == ConfigChange.objects.for_workspace(acme).count()


def test_csv_cells_cannot_become_formulas(api, acme, alice, carol):
    api.as_(alice).post(f"{W}/teams/", {"slug": "x", "name": "=HYPERLINK(1)"}, format="json")
    ConfigChange.objects.filter(action="team.create", target="acme/x").update(target="=cmd|' /C")
    body = b"".join(api.as_(carol).get(f"{W}/changes/export/").streaming_content).decode()
    assert ",'=cmd|' /C," in body


def test_an_unknown_export_format_is_refused(api, acme, carol):
    response = api.as_(carol).get(f"{W}/changes/export/?format=xml")
    assert response.status_code == 400
    assert error(response)["detail"] == "Unknown export format 'xml'; use csv or jsonl."


def test_the_summary_counts_the_workspace(api, acme, alice, bob, carol, acme_gateway, token_for):
    token_for(acme, bob)
    revoked = token_for(acme, alice)
    ApiToken.objects.filter(user=alice).update(revoked_at=acme.created_at)
    assert revoked
    api.as_(alice).post(f"{W}/gateways/", {"slug": "ops", "name": "Ops"}, format="json")
    body = api.as_(carol).get(f"{W}/reports/summary/").json()
    assert body == {
        "gateways": 2,
        "servers": 1,
        "assignments": 1,
        "members": 3,
        "active_tokens": 1,
        "per_gateway": [
            {"slug": "dev", "name": "Developer tools", "assignments": 1},
            {"slug": "ops", "name": "Ops", "assignments": 0},
        ],
    }
